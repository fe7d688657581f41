"""The worked examples in gridstream's docstrings run and give what they say."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from gridstream import broker, periods, registry, units


@pytest.mark.parametrize("module", [periods, units, registry, broker], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0
    assert failed == 0
