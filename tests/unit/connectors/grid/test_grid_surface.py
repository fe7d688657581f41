"""The grid connectors' public surface is what ``connectors.grid.__all__`` says; examples run."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest

import connectors.grid
from connectors.grid import curves, entsoe_api, formats, p1, tennet


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


@pytest.mark.parametrize(
    "module", [curves, entsoe_api, formats, p1, tennet], ids=lambda m: m.__name__
)
def test_docstring_examples_run(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0
    assert failed == 0


def test_a_day_ahead_query_names_the_zone_both_ways_and_the_daily_auction() -> None:
    t = datetime(2024, 10, 7, 22, tzinfo=UTC)
    params = entsoe_api.query_params(
        entsoe_api.EntsoeQuery("A44", "10YBE----------2", t, t + timedelta(days=1)), "tok"
    )
    assert params == {
        "securityToken": "tok",
        "documentType": "A44",
        "periodStart": "202410072200",
        "periodEnd": "202410082200",
        "in_Domain": "10YBE----------2",
        "out_Domain": "10YBE----------2",
        "contract_MarketAgreement.type": "A01",
    }


def test_a_rejection_must_name_a_reason_of_the_catalogue() -> None:
    with pytest.raises(KeyError, match="unknown reason 'oops'"):
        connectors.grid.Rejected("oops", "detail", "raw")
