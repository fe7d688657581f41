"""The ledger's quarter-hour energy is the register difference at the boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator import Ledger, LedgerError, simulate

T0 = datetime(2026, 1, 15, 10, tzinfo=UTC)


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def test_quarter_hour_energy_is_the_register_difference_summed_per_site() -> None:
    ledger = Ledger({"A": "SITE", "B": "SITE"})
    # Meter A/1: 1,000 -> 1,400 -> 1,900 Wh at 10:00, 10:15, 10:30; a reading in between
    # (10:07) does not change the sums.
    for m, wh in [(0, 1000), (7, 1200), (15, 1400), (30, 1900)]:
        ledger.record_register("A", 1, minutes(m), wh)
    # Meter B/1 (V2X): import 50 -> 80, export 10 -> 15 -> 15.
    for m, imp, exp in [(0, 50, 10), (15, 80, 15), (30, 80, 15)]:
        ledger.record_register("B", 1, minutes(m), imp, exp)
    assert ledger.quarter_hour_energy() == {
        ("SITE", minutes(0)): (400.0 + 30.0, 5.0),  # A +400, B +30; B exports 5
        ("SITE", minutes(15)): (500.0 + 0.0, 0.0),
    }


def test_an_interval_without_its_closing_reading_is_left_out() -> None:
    ledger = Ledger({})
    ledger.record_register("A", 1, minutes(0), 1000)
    ledger.record_register("A", 1, minutes(15), 1100)
    ledger.record_register("A", 1, minutes(20), 1150)  # [10:15, 10:30) not closed yet
    # A station the ledger does not know is its own site.
    assert ledger.quarter_hour_energy() == {("A", minutes(0)): (100.0, 0.0)}


def test_a_missing_boundary_reading_is_a_ledger_error() -> None:
    ledger = Ledger({})
    ledger.record_register("A", 1, minutes(0), 1000)
    ledger.record_register("A", 1, minutes(14), 1100)
    ledger.record_register("A", 1, minutes(31), 1200)
    with pytest.raises(LedgerError, match="boundary 2026-01-15T10:15:00"):
        ledger.quarter_hour_energy()


def test_the_same_reading_twice_is_kept_once_and_a_different_one_refused() -> None:
    ledger = Ledger({})
    ledger.record_register("A", 1, minutes(0), 1000)
    ledger.record_register("A", 1, minutes(0), 1000)
    assert len(ledger.readings("A", 1)) == 1
    with pytest.raises(LedgerError, match="differ"):
        ledger.record_register("A", 1, minutes(0), 1001)
    with pytest.raises(LedgerError, match="before"):
        ledger.record_register("A", 1, minutes(-1), 900)


def test_sessions_are_counted_when_started_and_ended() -> None:
    ledger = Ledger({})
    ledger.record_start("A", 1, "17", minutes(0), 1000)
    ledger.record_start("A", 2, "18", minutes(1), 2000)
    ledger.record_end("A", 1, "17", minutes(30), 1500, "EVDisconnected")
    assert (ledger.sessions_started, ledger.sessions_ended) == (2, 1)
    assert ledger.sessions()[0].meter_stop_wh == 1500.0


def test_tiny_scenario_meters_count_the_hand_computed_energy(tiny: Any) -> None:
    # Offline (no websockets): every step's registers go into the ledger.
    ledger = Ledger(tiny.fleet.site_of())
    for station in tiny.fleet.stations:
        steps = simulate(
            station, tiny.start, tiny.last_boundary, timedelta(minutes=1), tiny.planner
        )
        for step in steps:
            export = step.reading.export_wh if step.evse.bidirectional else None
            ledger.record_register(
                station.station_id, step.evse.evse_id, step.ts, step.reading.import_wh, export
            )
    assert ledger.quarter_hour_energy() == tiny.quarter_hours
