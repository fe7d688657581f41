"""What streams.compute exports is what the agents and the warehouse depend on."""

from __future__ import annotations

import doctest

import pytest

import streams.compute
from streams.compute import meter_registers, peaks, processor, quarter_hour, site_load


def test_public_surface_is_pinned() -> None:
    assert sorted(streams.compute.__all__) == sorted(
        [
            "EXPORT_REGISTER",
            "IMPORT_REGISTER",
            "BatchStep",
            "IntervalEnergy",
            "MeterKey",
            "PeakState",
            "QuarterHourConfig",
            "Rejection",
            "RegisterPoint",
            "RegisterState",
            "RegisterStep",
            "SiteConfig",
            "SiteLoadState",
            "SiteState",
            "SiteStep",
            "add_readings",
            "energy_of_intervals",
            "energy_points",
            "monthly_peaks",
            "process_batch",
            "process_samples",
            "register_at",
            "sample_registers",
            "site_quarter_hour",
        ]
    )
    assert all(hasattr(streams.compute, name) for name in streams.compute.__all__)


@pytest.mark.parametrize("module", [quarter_hour, meter_registers, site_load, peaks, processor])
def test_docstring_examples_run(module) -> None:
    assert doctest.testmod(module).failed == 0
