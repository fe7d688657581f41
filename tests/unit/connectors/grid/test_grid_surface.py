"""The grid connectors' public surface is what ``connectors.grid.__all__`` says; examples run."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import connectors.grid
from connectors.grid import curves, formats, p1, tennet


def test_public_names_are_pinned() -> None:
    assert sorted(connectors.grid.__all__) == sorted(
        [
            "FORMATS",
            "CurveProblem",
            "Format",
            "Parsed",
            "Rejected",
            "Slot",
            "detect_format",
            "event_signals",
            "expand",
            "parse_as",
            "parse_document",
            "parse_events",
            "parse_imbalance_xml",
            "parse_records",
            "parse_signals_csv",
            "parse_telegrams",
        ]
    )


@pytest.mark.parametrize("module", [curves, formats, p1, tennet], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0
    assert failed == 0


def test_a_rejection_must_name_a_reason_of_the_catalogue() -> None:
    with pytest.raises(KeyError, match="unknown reason 'oops'"):
        connectors.grid.Rejected("oops", "detail", "raw")
