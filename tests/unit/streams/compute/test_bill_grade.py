"""Issue 12's meter quirks through the per-site chain, each figure worked out by hand.

Each case gives the value DOMAIN.md defines (Meter values; Intervals and energy): no
phantom peak, no lost reading. Readings are per minute unless a case says otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridstream.records import MeterSample
from streams.compute.processor import SiteConfig, SiteState, SiteStep, process_samples

from .conftest import DAY, at

BRUSSELS = ZoneInfo("Europe/Brussels")
AS_OF = datetime(2026, 1, 16, 12, 0, tzinfo=UTC)
Sample = Callable[..., MeterSample]


def run(
    samples: list[MeterSample],
    config: SiteConfig,
    rated_power: Callable[[str, int | None], float | None] = lambda station, evse: None,
) -> tuple[dict[str, tuple[float, float, float, bool]], SiteStep]:
    """Latest (import_wh, export_wh, completeness, estimated) per quarter-hour ``HH:MM``."""
    step = process_samples(SiteState("SITE1"), samples, config, BRUSSELS, AS_OF, rated_power)
    latest = {
        load.interval_start.strftime("%d %H:%M"): (
            load.import_wh,
            load.export_wh,
            load.completeness,
            load.estimated,
        )
        for load in step.loads
    }
    return latest, step


def minutes(first: int, last: int, hour: int = 10) -> list[str]:
    return [f"{hour}:{m:02d}" for m in range(first, last + 1)]


def test_a_misread_zero_on_a_7kw_charger_is_no_201kw_peak(sample_factory: Sample, site_config):
    # 50 kWh register rising 100 Wh a minute (6 kW); the 10:07 reading is "0.00"
    samples = [
        sample_factory(t, import_wh=0.0 if m == 7 else 50_000.0 + 100 * m)
        for m, t in enumerate(minutes(0, 15))
    ]
    loads, step = run(samples, site_config, lambda station, evse: 7_400.0)
    # 0 is dropped, 10:06 -> 10:08 counts straight across: 15 x 100 = 1,500 Wh, 6 kW
    assert loads["15 10:00"] == (1_500.0, 0.0, 1.0, False)
    assert [p.peak_w for p in step.peaks] == [6_000.0]
    # the dropped reading is visible: one dead letter with its reason, no reset counted
    (letter,) = step.quirks.outliers
    assert (letter.reason, letter.station_id, step.quirks.resets) == ("outlier", "CS1", 0)
    assert json.loads(letter.raw)["value"] == 0.0 and "10:07" in letter.detail


def test_meter_stop_zero_then_next_days_start_spreads_no_megawatt_hour(
    sample_factory: Sample, site_config
):
    # 1.6: the last periodic reading at 10:14 (1,300,000 Wh), meterStop "0" at 10:15, then
    # the next morning's meterStart at 09:00 (1,300,500: 500 Wh the station used meanwhile)
    # and a session to 09:15 (1,302,000)
    samples = [
        sample_factory("10:00", import_wh=1_299_000.0),
        sample_factory("10:14", import_wh=1_300_000.0),
        sample_factory("10:15", import_wh=0.0),
        sample_factory(DAY + timedelta(days=1, hours=9), import_wh=1_300_500.0),
        sample_factory(DAY + timedelta(days=1, hours=9, minutes=15), import_wh=1_302_000.0),
    ]
    loads, step = run(samples, site_config)
    # "0" is an outlier (the register is back above 1,300,000). Across the night, 500 Wh
    # over 22 h 46 min: spread evenly, estimated. 1,500 Wh from 09:00 to 09:15: 6 kW.
    assert sum(load[0] for load in loads.values()) == pytest.approx(3_000.0)
    assert loads["16 09:00"] == (1_500.0, 0.0, 1.0, False)
    night = [v for k, v in loads.items() if "15 10:15" <= k < "16 09:00"]
    assert len(night) == 4 * 22 + 3  # 10:15 .. 08:45
    assert all(v[3] and v[0] < 6.0 for v in night)  # about 5.5 Wh each, estimated
    assert max(p.peak_w for p in step.peaks) == 6_000.0


def test_readings_of_an_unknown_evse_stay_with_their_transaction(
    sample_factory: Sample, site_config
):
    # two sessions on one station, EVSE unknown (a connector restarted): registers 10,000
    # and 50,000, each +600 Wh every 5 min
    samples = []
    for k, t in enumerate(["10:00", "10:05", "10:10", "10:15"]):
        samples.append(sample_factory(t, 10_000.0 + 600 * k, evse_id=None, transaction_id="T1"))
        samples.append(sample_factory(t, 50_000.0 + 600 * k, evse_id=None, transaction_id="T2"))
    loads, _ = run(samples, site_config)
    # 1,800 + 1,800, never 10,000 <-> 50,000 differenced against each other
    assert loads["15 10:00"] == (3_600.0, 0.0, 1.0, False)


def test_main_meter_measuring_22kw_beats_an_estimated_evse_figure(
    sample_factory: Sample, site_config
):
    # EVSE 0 reads 22 kW every minute (366.67 Wh); EVSE 1 only at 10:00 and 10:30, 5.5 kW
    samples = [
        sample_factory(t, import_wh=1_000.0 + 22_000 / 60 * m, evse_id=0)
        for m, t in enumerate(minutes(0, 15))
    ]
    samples += [
        sample_factory("10:00", import_wh=0.0),
        sample_factory("10:30", import_wh=2_750.0),
    ]
    loads, step = run(samples, site_config)
    import_wh, _, completeness, estimated = loads["15 10:00"]
    assert import_wh == pytest.approx(5_500.0)  # 22 kW, not EVSE 1's 1,375 Wh (5.5 kW)
    assert (completeness, estimated) == (1.0, False)
    assert step.peaks[-1].peak_w == pytest.approx(22_000.0)
    # the EVSE's own gross figure stays visible, marked as not in the site load
    *_, evse1 = [e for e in step.evse_loads if e.evse_id == 1 and e.interval_start == at("10:00")]
    assert (evse1.import_wh, evse1.in_site_load, evse1.estimated) == (1_375.0, False, True)


def test_a_power_only_meter_is_integrated_and_flagged_estimated(
    sample_factory: Sample, reading_factory, site_config
):
    # Power.Active.Import only: 11 kW from 10:00 to 10:10, then 5.5 kW to 10:15
    samples = [
        sample_factory(
            t,
            readings=(
                reading_factory(11_000.0 if m <= 10 else 5_500.0, "Power.Active.Import", unit="W"),
            ),
        )
        for m, t in enumerate(minutes(0, 15))
    ]
    loads, _ = run(samples, site_config)
    # trapezoids: 10 min at 11 kW (1,833.33 Wh), 10:10 -> 10:11 from 11 to 5.5 kW
    # (137.5 Wh), 4 min at 5.5 kW (366.67 Wh): 2,337.5 Wh
    import_wh, _, completeness, estimated = loads["15 10:00"]
    assert import_wh == pytest.approx(11_000 / 6 + 137.5 + 5_500 * 4 / 60)
    assert (completeness, estimated) == (1.0, True)


def test_clock_aligned_registers_every_quarter_hour_are_measured(
    sample_factory: Sample, site_config
):
    samples = [
        sample_factory("10:00", import_wh=1_000.0),
        sample_factory("10:15", import_wh=3_000.0),
        sample_factory("10:30", import_wh=4_000.0),
    ]
    loads, _ = run(samples, site_config)
    assert loads["15 10:00"] == (2_000.0, 0.0, 1.0, False)
    assert loads["15 10:15"] == (1_000.0, 0.0, 1.0, False)


def test_charge_and_discharge_at_once_net_to_zero_at_the_connection(
    sample_factory: Sample, site_config
):
    # EVSE 1 charges 10 kW while EVSE 2 (V2X) discharges 10 kW, both read every minute
    samples = []
    for m, t in enumerate(minutes(0, 15)):
        samples.append(sample_factory(t, import_wh=10_000 / 60 * m, evse_id=1))
        samples.append(sample_factory(t, import_wh=0.0, export_wh=10_000 / 60 * m, evse_id=2))
    loads, step = run(samples, site_config)
    import_wh, export_wh, _, _ = loads["15 10:00"]
    assert (import_wh, export_wh) == (pytest.approx(0.0, abs=1e-9), pytest.approx(0.0, abs=1e-9))
    gross = {e.evse_id: (e.import_wh, e.export_wh) for e in step.evse_loads}
    assert gross == {1: pytest.approx((2_500.0, 0.0)), 2: pytest.approx((0.0, 2_500.0))}


def test_discharge_before_charge_in_one_quarter_hour_is_not_netted_away(
    sample_factory: Sample, site_config
):
    # EVSE 2 discharges 10 kW from 10:00 to 10:05, EVSE 1 charges 10 kW from 10:05 to 10:15
    samples = []
    for m, t in enumerate(minutes(0, 15)):
        charged = 10_000 / 60 * max(0, m - 5)
        discharged = 10_000 / 60 * min(m, 5)
        samples.append(sample_factory(t, import_wh=charged, evse_id=1))
        samples.append(sample_factory(t, import_wh=0.0, export_wh=discharged, evse_id=2))
    loads, _ = run(samples, site_config)
    import_wh, export_wh, _, _ = loads["15 10:00"]
    # the connection imported 1,666.67 Wh and exported 833.33 Wh: nothing at the same minute
    assert (import_wh, export_wh) == (pytest.approx(10_000 / 6), pytest.approx(10_000 / 12))


def test_a_jump_beyond_the_evse_rated_power_is_no_energy(sample_factory: Sample, site_config):
    # a new meter whose register starts 5,000 Wh higher at 10:05 (60 kW in 5 minutes on a
    # 7.4 kW EVSE), then 100 Wh a minute
    samples = [sample_factory("10:00", import_wh=1_000.0), sample_factory("10:04", 1_400.0)]
    samples += [sample_factory(t, 6_500.0 + 100 * m) for m, t in enumerate(minutes(5, 15))]
    loads, step = run(samples, site_config, lambda station, evse: 7_400.0)
    # 10:00 -> 10:04 (400 Wh) and 10:05 -> 10:15 (1,000 Wh); 10:04 -> 10:05 covers nothing
    assert loads["15 10:00"] == (pytest.approx(1_400.0), 0.0, 14 / 15, False)
    assert (step.quirks.resets, step.quirks.outliers) == (1, [])  # counted, nothing dropped
    # without a rated power, the 400 kW default takes the same step as energy
    loads, _ = run(samples, site_config)
    assert loads["15 10:00"][0] == pytest.approx(1_400.0 + 5_100.0)


def test_resent_readings_older_than_the_allowed_lateness_are_duplicates(
    sample_factory: Sample, site_config
):
    # two hours every 5 minutes, then the first half hour sent again (1 h of lateness)
    times = [DAY + timedelta(hours=10, minutes=5 * k) for k in range(25)]
    first = [sample_factory(t, import_wh=1_000.0 + 50 * k) for k, t in enumerate(times)]
    state = SiteState("SITE1")
    process_samples(state, first, site_config, BRUSSELS, AS_OF)
    again = process_samples(state, first[:7], site_config, BRUSSELS, AS_OF)
    assert (again.rejections, again.loads, again.duplicates) == ([], [], 7)


def test_a_reading_that_is_truly_late_is_still_dead_lettered(sample_factory: Sample, site_config):
    # a gap (estimated) 10:00 -> 10:30 filled two hours later: too late, not a duplicate
    state = SiteState("SITE1")
    times = [DAY + timedelta(hours=10, minutes=m) for m in [0, 30, *range(35, 180, 5)]]
    samples = [sample_factory(t, import_wh=1_000.0 + 10 * k) for k, t in enumerate(times)]
    process_samples(state, samples, site_config, BRUSSELS, AS_OF)
    late = process_samples(state, [sample_factory("10:10", 1_003.0)], site_config, BRUSSELS, AS_OF)
    assert [r.reason for r in late.rejections] == ["too_late"]
    assert late.duplicates == 0


def test_a_late_reading_between_readings_held_that_is_none_of_them_is_dead_lettered(
    sample_factory: Sample, site_config
):
    # 9:56 -> 11:56 every 5 minutes, 50 Wh each. With an hour of lateness the meter forgets
    # the quarter-hours before 10:30 (10:00 and 10:15 measured fully: a bit each) but keeps
    # the reading at 10:26, the anchor its next intervals start from.
    times = [DAY + timedelta(hours=9, minutes=56 + 5 * k) for k in range(25)]
    state = SiteState("SITE1")
    first = [sample_factory(t, import_wh=1_000.0 + 50 * k) for k, t in enumerate(times)]
    process_samples(state, first, site_config, BRUSSELS, AS_OF)
    # 10:06 as it was, before every reading held: a re-send of a forgotten quarter-hour
    again = process_samples(state, [first[2]], site_config, BRUSSELS, AS_OF)
    assert (again.rejections, again.duplicates) == ([], 1)
    # never seen: a new instant between readings held (10:27 at 1,310 Wh), and another
    # value at one held (10:26 at 1,340 Wh, not 1,300): no re-send, and too late
    late = [sample_factory("10:27", 1_310.0), sample_factory("10:26", 1_340.0)]
    step = process_samples(state, late, site_config, BRUSSELS, AS_OF)
    assert [r.reason for r in step.rejections] == ["too_late", "too_late"]
    assert (step.loads, step.duplicates) == ([], 0)
