"""The worked examples in the OCPP connector's docstrings run and give what they say."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from connectors.ocpp import bounded, charging_needs, lifecycle, parse, timestamps


@pytest.mark.parametrize(
    "module", [bounded, charging_needs, lifecycle, parse, timestamps], ids=lambda m: m.__name__
)
def test_docstring_examples_run(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0
    assert failed == 0
