"""Energy readings out of meter samples: registers and intervals, phases, contexts, locations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gridstream.registers import sample_energy
from streams.compute.meter_registers import (
    EXPORT_CLOCK_INTERVAL,
    EXPORT_INTERVAL,
    EXPORT_REGISTER,
    IMPORT_CLOCK_INTERVAL,
    IMPORT_INTERVAL,
    IMPORT_REGISTER,
    energy_points,
    sample_registers,
)
from streams.compute.quarter_hour import RegisterPoint


def test_total_register_is_taken_as_reported(reading_factory) -> None:
    assert sample_registers([reading_factory(12_345.0)]) == (12_345.0, None)


def test_per_phase_only_registers_are_summed(reading_factory) -> None:
    readings = [
        reading_factory(v, phase=p) for v, p in ((100.0, "L1"), (110.0, "L2"), (120.0, "L3"))
    ]
    # no total reported: the total is the sum of the parts, 100 + 110 + 120 = 330 Wh
    assert sample_registers(readings) == (330.0, None)


def test_total_and_phases_are_not_double_counted(reading_factory) -> None:
    readings = [
        reading_factory(100.0, phase="L1"),
        reading_factory(330.0),  # the total, reported beside its parts
        reading_factory(110.0, phase="L2"),
        reading_factory(120.0, phase="L3"),
    ]
    # 330, not 330 + 330
    assert sample_registers(readings) == (330.0, None)


def test_phase_to_neutral_labels_are_the_same_phase(reading_factory) -> None:
    readings = [
        reading_factory(100.0, phase="L1-N"),
        reading_factory(100.0, phase="L1", context="Transaction.Begin"),
        reading_factory(110.0, phase="L2-N"),
        reading_factory(0.0, phase="N"),
    ]
    # L1-N and L1 are one phase (100), plus L2 (110); N carries no energy: 210 Wh
    assert sample_registers(readings) == (210.0, None)


def test_same_register_twice_in_one_sample_keeps_the_higher(reading_factory) -> None:
    readings = [
        reading_factory(5_000.0, context="Transaction.Begin"),
        reading_factory(5_002.0, context="Sample.Periodic"),
    ]
    # one instant, one value: a register only rises, so the higher is the latest count
    assert sample_registers(readings) == (5_002.0, None)
    assert sample_registers(list(reversed(readings))) == (5_002.0, None)


@pytest.mark.parametrize(
    ("locations", "expected"),
    [
        ((("Outlet", 1_000.0), ("Inlet", 1_050.0)), 1_000.0),  # the outlet is the EVSE's meter
        (((None, 1_000.0), ("Inlet", 1_050.0)), 1_000.0),  # no location means Outlet (OCPP)
        ((("Inlet", 1_050.0),), 1_050.0),  # only an inlet reading: use it
        ((("EV", 9_999.0),), None),  # the car's own meter is not the EVSE's register
    ],
)
def test_outlet_register_is_preferred_over_other_locations(
    reading_factory, locations, expected
) -> None:
    readings = [reading_factory(v, location=loc) for loc, v in locations]
    assert sample_registers(readings) == (expected, None)


def test_interval_power_and_other_units_are_not_registers(reading_factory) -> None:
    readings = [
        reading_factory(150.0, IMPORT_INTERVAL),  # energy of an interval, not a register
        reading_factory(7_400.0, "Power.Active.Import", unit="W"),
        reading_factory(3.0, IMPORT_REGISTER, unit="varh"),  # not what a connector emits
    ]
    assert sample_registers(readings) == (None, None)
    assert sample_energy(readings) == {IMPORT_INTERVAL: 150.0}


def test_interval_energy_is_a_series_of_its_own_beside_the_register(reading_factory) -> None:
    readings = [
        reading_factory(5_000.0),
        reading_factory(12.0, IMPORT_INTERVAL, context="Sample.Periodic"),
        reading_factory(3.0, EXPORT_INTERVAL, context="Sample.Periodic"),
    ]
    assert sample_energy(readings) == {
        IMPORT_REGISTER: 5_000.0,
        IMPORT_INTERVAL: 12.0,
        EXPORT_INTERVAL: 3.0,
    }


def test_clock_aligned_intervals_are_apart_from_periodic_ones(reading_factory) -> None:
    # A station sending both measures the same energy twice (errata 3.77: each context has
    # its own interval length): two series, never one sum.
    readings = [
        reading_factory(12.0, IMPORT_INTERVAL, context="Sample.Periodic"),
        reading_factory(180.0, IMPORT_INTERVAL, context="Sample.Clock"),
        reading_factory(9.0, EXPORT_INTERVAL, context="Sample.Clock"),
    ]
    assert sample_energy(readings) == {
        IMPORT_INTERVAL: 12.0,
        IMPORT_CLOCK_INTERVAL: 180.0,
        EXPORT_CLOCK_INTERVAL: 9.0,
    }


@pytest.mark.parametrize(
    "context", ["Transaction.Begin", "Transaction.End", "Trigger", "Interruption.End", "Other"]
)
def test_intervals_of_other_contexts_are_skipped(reading_factory, context) -> None:
    # Their interval is not the span since the previous sample: counting a Trigger's
    # interval would count part of the next periodic interval twice.
    assert sample_energy([reading_factory(40.0, IMPORT_INTERVAL, context=context)]) == {}


def test_interval_per_phase_only_is_summed_and_beside_a_total_is_not(reading_factory) -> None:
    parts = [
        reading_factory(v, IMPORT_INTERVAL, phase=p, context="Sample.Periodic")
        for v, p in ((4.0, "L1"), (5.0, "L2-N"), (6.0, "L3"))
    ]
    # 4 + 5 + 6 = 15 Wh without a total; with the total 15 beside them, 15, not 30
    assert sample_energy(parts) == {IMPORT_INTERVAL: 15.0}
    total = reading_factory(15.0, IMPORT_INTERVAL, context="Sample.Periodic")
    assert sample_energy([*parts, total]) == {IMPORT_INTERVAL: 15.0}


def test_import_and_export_registers_are_separate_meters(sample_factory) -> None:
    samples = [
        sample_factory("10:00", import_wh=1_000.0, export_wh=40.0),
        sample_factory("10:05", import_wh=1_000.0, export_wh=90.0, evse_id=2),
        sample_factory("10:05", import_wh=1_010.0),
    ]
    ts = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    later = datetime(2026, 1, 15, 10, 5, tzinfo=UTC)
    assert energy_points(samples) == {
        ("CS1", 1, None, IMPORT_REGISTER): [
            RegisterPoint(ts, 1_000.0),
            RegisterPoint(later, 1_010.0),
        ],
        ("CS1", 1, None, EXPORT_REGISTER): [RegisterPoint(ts, 40.0)],
        ("CS1", 2, None, IMPORT_REGISTER): [RegisterPoint(later, 1_000.0)],
        ("CS1", 2, None, EXPORT_REGISTER): [RegisterPoint(later, 90.0)],
    }
