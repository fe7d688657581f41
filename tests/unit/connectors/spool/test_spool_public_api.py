"""The spool's public surface is what ``connectors.spool.__all__`` says; its examples run."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import connectors.spool
from connectors.spool import frames, segments


def test_public_names_are_pinned() -> None:
    assert sorted(connectors.spool.__all__) == [
        "Ack",
        "ForwardTarget",
        "Forwarder",
        "KafkaTarget",
        "OffsetsReused",
        "RELEASE_MODES",
        "Recovery",
        "ReleaseLedger",
        "ReleaseMode",
        "Spool",
        "SpoolCorrupt",
        "SpoolEntry",
        "SpoolError",
        "SpoolFull",
        "SpoolStats",
    ]


@pytest.mark.parametrize("module", [frames, segments], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0
    assert failed == 0
