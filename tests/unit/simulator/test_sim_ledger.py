"""The ledger's expected quarter-hours follow DOMAIN.md, quirk by quirk, worked out by hand."""

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
    # Meter B/1: import 50 -> 80 -> 80, read only on the boundaries.
    for m, wh in [(0, 50), (15, 80), (30, 80)]:
        ledger.record_register("B", 1, minutes(m), wh)
    assert ledger.quarter_hour_energy() == {
        ("SITE", minutes(0)): (400.0 + 30.0, 0.0),  # A +400, B +30
        ("SITE", minutes(15)): (500.0 + 0.0, 0.0),
    }


def test_a_misread_is_not_counted_the_true_register_is() -> None:
    ledger = Ledger({})
    # 6 kW: 500 Wh every 5 minutes. At 10:05 the meter showed "0" instead of 1,500 Wh;
    # the 10:10 reading is back above 1,500, so the pipeline drops the 0 and counts
    # straight across it: 2,500 - 1,000 = 1,500 Wh (taking the 0 for a reset would count
    # 2,500 - 0 = 2,500 Wh more than the meter did... or a 30 kW jump back).
    ledger.record_register("A", 1, minutes(0), 1000)
    ledger.record_register("A", 1, minutes(5), 1500)
    ledger.record_misread("A", 1, minutes(5), sent_wh=0, true_wh=1500)
    ledger.record_register("A", 1, minutes(10), 2000)
    ledger.record_register("A", 1, minutes(15), 2500)
    assert ledger.quarter_hour_energy() == {("A", minutes(0)): (1500.0, 0.0)}
    [misread] = ledger.misreads()
    assert (misread.ts, misread.sent_wh, misread.true_wh) == (minutes(5), 0.0, 1500.0)


def test_a_reset_counts_each_meter_s_own_difference_and_nothing_across_the_drop() -> None:
    ledger = Ledger({})
    # 11,040 W, 184 Wh a minute. The old meter reads 10,000 at 10:00 and 10,920 at 10:05;
    # at 10:06 a new meter starts at 1,000 Wh and reads 1,184 at 10:07, 2,656 at 10:15
    # (1,000 + 9 x 184) and 5,416 at 10:30 (+ 15 x 184).
    ledger.record_register("A", 1, minutes(0), 10_000)
    ledger.record_register("A", 1, minutes(5), 10_920)
    ledger.record_register("A", 1, minutes(7), 1_184, meter_no=1)
    ledger.record_register("A", 1, minutes(15), 2_656, meter_no=1)
    ledger.record_register("A", 1, minutes(30), 5_416, meter_no=1)
    # [10:00, 10:15): old meter 10,920 - 10,000 = 920, new meter 2,656 - 1,184 = 1,472:
    # 2,392 Wh. The 368 Wh that flowed between 10:05 and 10:07 are in no pair of one meter.
    assert ledger.quarter_hour_energy() == {
        ("A", minutes(0)): (2392.0, 0.0),
        ("A", minutes(15)): (2760.0, 0.0),
    }


def test_a_register_that_goes_down_on_the_same_meter_is_a_ledger_error() -> None:
    ledger = Ledger({})
    ledger.record_register("A", 1, minutes(0), 1000)
    with pytest.raises(LedgerError, match="went down without a new meter"):
        ledger.record_register("A", 1, minutes(1), 999)


def test_a_power_only_meter_counts_the_trapezoid_of_its_samples() -> None:
    ledger = Ledger({}, max_gap=timedelta(minutes=5))
    # [10:00, 10:15): 0 W at 10:00; the EV starts at 10:01:30 and the meter says 7,200 W
    # there and every minute from 10:02 to 10:15.
    #   10:00 -> 10:01:30: (0 + 7,200) / 2 x 90 s = 324,000 Ws =    90 Wh
    #   10:01:30 -> 10:02:  7,200 x 30 s                          =    60 Wh
    #   10:02 -> 10:15:     7,200 x 13 min                        = 1,560 Wh
    # 1,710 Wh (the EV took 1,620: the pair across the change counts half of it).
    ledger.record_power("P", 1, minutes(0), 0)
    ledger.record_power("P", 1, minutes(1.5), 7200)
    for m in range(2, 16):
        ledger.record_power("P", 1, minutes(m), 7200)
    # [10:15, 10:30): nothing between 10:15 and 10:21 (6 min > max_gap: not integrated),
    # then every minute to 10:30: 9 x 7,200 W x 1 min = 1,080 Wh.
    for m in range(21, 31):
        ledger.record_power("P", 1, minutes(m), 7200)
    assert ledger.quarter_hour_energy() == {
        ("P", minutes(0)): (1710.0, 0.0),
        ("P", minutes(15)): (1080.0, 0.0),
    }
    assert ledger.readings("P", 1) == [] and len(ledger.powers("P", 1)) == 26


def test_power_samples_and_registers_do_not_mix_and_one_instant_has_one_power() -> None:
    ledger = Ledger({})
    ledger.record_power("P", 1, minutes(0), 7200)
    ledger.record_power("P", 1, minutes(0), 7200)  # the same again: kept once
    with pytest.raises(LedgerError, match="power 0"):
        ledger.record_power("P", 1, minutes(0), 0)
    with pytest.raises(LedgerError, match="registers and power-only"):
        ledger.record_register("P", 1, minutes(1), 1000)


def _every_minute(ledger: Ledger, station: str, wh_per_minute: list[float], **kw: Any) -> None:
    """Registers read at 10:00, 10:01, ... 10:15, each minute adding the next amount."""
    register = 10_000.0
    for m in range(16):
        if "export" in kw:
            ledger.record_register(station, 1, minutes(m), 500.0, register)
        else:
            ledger.record_register(station, 1, minutes(m), register)
        if m < 15:
            register += wh_per_minute[m]


def test_a_site_that_charges_and_discharges_at_once_is_netted_per_minute() -> None:
    ledger = Ledger({"A": "SITE", "V": "SITE", "IDLE": "SITE"})
    # A charges 100 Wh a minute from 10:00 to 10:10 (6 kW); V discharges 60 Wh a minute
    # from 10:05 to 10:15 (3.6 kW; its export register grows). Per minute, net:
    #   10:00-10:05: +100 x 5 = +500   (import)
    #   10:05-10:10: +40 x 5  = +200   (import)
    #   10:10-10:15: -60 x 5  = -300   (export)
    # Site: import 700 Wh, export 300 Wh; the gross figures are 1,000 in and 600 out.
    _every_minute(ledger, "A", [100.0] * 10 + [0.0] * 5)
    _every_minute(ledger, "V", [0.0] * 5 + [60.0] * 10, export=True)
    # A meter that does not move needs no minute readings: all its minutes are 0.
    ledger.record_register("IDLE", 1, minutes(0), 42)
    ledger.record_register("IDLE", 1, minutes(15), 42)
    assert ledger.quarter_hour_energy() == {("SITE", minutes(0)): (700.0, 300.0)}
    gross = ledger.meter_quarter_hour_energy()
    assert gross[("A", 1, minutes(0))] == (1000.0, 0.0)
    assert gross[("V", 1, minutes(0))] == (0.0, 600.0)


def test_the_net_step_is_the_pipeline_s() -> None:
    # A imports 100 Wh in the first minute, V exports 100 Wh in the second.
    def site(net_step: timedelta) -> Ledger:
        ledger = Ledger({"A": "SITE", "V": "SITE"}, net_step=net_step)
        _every_minute(ledger, "A", [100.0] + [0.0] * 14)
        _every_minute(ledger, "V", [0.0, 100.0] + [0.0] * 13, export=True)
        return ledger

    # Per minute the site imports 100 and exports 100; per 5 minutes they cancel out.
    assert site(timedelta(minutes=1)).quarter_hour_energy() == {
        ("SITE", minutes(0)): (100.0, 100.0)
    }
    assert site(timedelta(minutes=5)).quarter_hour_energy() == {("SITE", minutes(0)): (0.0, 0.0)}
    with pytest.raises(ValueError, match="divide 15 minutes"):
        Ledger({}, net_step=timedelta(minutes=7))


def test_netting_needs_every_minute_of_a_meter_that_moved() -> None:
    ledger = Ledger({"A": "SITE", "V": "SITE"})
    _every_minute(ledger, "V", [60.0] * 15, export=True)
    ledger.record_register("A", 1, minutes(0), 1000)
    ledger.record_register("A", 1, minutes(15), 2000)  # moved, but read on boundaries only
    with pytest.raises(LedgerError, match="A/1: no reading at 2026-01-15T10:01:00"):
        ledger.quarter_hour_energy()


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


def test_a_transaction_id_reused_after_its_end_is_a_second_session() -> None:
    ledger = Ledger({})
    ledger.record_start("A", 1, "7", minutes(0), 1000)
    ledger.record_end("A", 1, "7", minutes(20), 1500, "EVDisconnected")
    ledger.record_start("A", 1, "7", minutes(30), 1500)
    ledger.record_end("A", 1, "7", minutes(50), 2100, "EVDisconnected")
    assert [(s.started_at, s.meter_start_wh, s.meter_stop_wh) for s in ledger.sessions()] == [
        (minutes(0), 1000.0, 1500.0),
        (minutes(30), 1500.0, 2100.0),
    ]
    with pytest.raises(LedgerError, match="no open session 7"):
        ledger.record_end("A", 1, "7", minutes(55), 2100, "Local")


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
