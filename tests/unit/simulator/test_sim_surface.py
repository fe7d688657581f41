"""The simulator's public names, and the worked examples in its docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

import simulator


def test_public_surface_is_what_the_cli_and_e2e_tests_use() -> None:
    assert sorted(simulator.__all__) == [
        "BootRefusedError",
        "Discharge",
        "Discharging",
        "EvseSpec",
        "Fleet",
        "Ledger",
        "LedgerError",
        "MeterReset",
        "Misread",
        "MisreadRecord",
        "Offline",
        "PowerRecord",
        "RegisterRecord",
        "Sampling",
        "Session",
        "SessionPlanner",
        "SessionRecord",
        "SimClock",
        "SimOptions",
        "SimulatorError",
        "SiteSpec",
        "StationError",
        "StationSpec",
        "Visit",
        "default_fleet",
        "plan_sessions",
        "run_fleet",
        "simulate",
        "small_fleet",
    ]
    assert all(hasattr(simulator, name) for name in simulator.__all__)


@pytest.mark.parametrize(
    "module",
    [
        "meter",
        "sessions",
        "timeline",
        "wire",
        "stations",
        "clock",
        "fleet",
        "ledger",
        "evse",
        "quirks",
    ],
)
def test_docstring_examples_hold(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"simulator.{module}"))
    assert result.failed == 0
