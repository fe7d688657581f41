"""The per-site chain: samples in, quarter-hour loads, peaks and rejections out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridstream.errors import StateError
from gridstream.records import MeterSample, QuarterHourLoad
from streams.compute.meter_registers import energy_points
from streams.compute.processor import SiteConfig, SiteState, process_batch, process_samples
from streams.compute.quarter_hour import QuarterHourConfig, energy_of_intervals
from streams.compute.site_load import SiteLoadState, site_quarter_hour

BRUSSELS = ZoneInfo("Europe/Brussels")
AS_OF = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
IMPORT = "Energy.Active.Import.Register"
INTERVAL = "Energy.Active.Import.Interval"


def loads_summary(loads: list[QuarterHourLoad]) -> list[tuple[str, float, int, float, int]]:
    return [
        (x.interval_start.strftime("%H:%M"), x.import_wh, x.meters, x.completeness, x.revision)
        for x in loads
    ]


def test_samples_of_two_evses_become_a_site_load_and_a_peak(sample_factory, site_config) -> None:
    samples = [
        sample_factory(f"10:{m:02d}", import_wh=wh, evse_id=evse)
        for evse, start_wh, step_wh in ((1, 1_000.0, 100.0), (2, 2_000.0, 150.0))
        for m, wh in zip((0, 5, 10, 15), (start_wh + k * step_wh for k in range(4)), strict=True)
    ]
    step = process_samples(SiteState("SITE1"), samples, site_config, BRUSSELS, AS_OF)
    # EVSE 1: 1000 -> 1300 = 300 Wh; EVSE 2: 2000 -> 2450 = 450 Wh; 750 Wh / 0.25 h = 3000 W
    assert loads_summary(step.loads) == [("10:00", 750.0, 2, 1.0, 0)]
    assert step.loads[0].avg_import_w == 3_000.0
    assert [(p.month, p.peak_w, p.revision) for p in step.peaks] == [("2026-01", 3_000.0, 0)]
    assert (step.rejections, step.duplicates) == ([], 0)


def test_site_load_is_revised_when_a_slower_meter_finishes(sample_factory, site_config) -> None:
    state = SiteState("SITE1")
    fast = [sample_factory(f"10:{m:02d}", import_wh=1_000.0 + 20 * m) for m in (0, 5, 10, 15)]
    slow = [
        sample_factory(f"10:{m:02d}", import_wh=2_000.0 + 30 * m, evse_id=2) for m in (0, 5, 10)
    ]
    first = process_samples(state, fast + slow, site_config, BRUSSELS, AS_OF)
    last = process_samples(
        state, [sample_factory("10:15", import_wh=2_450.0, evse_id=2)], site_config, BRUSSELS, AS_OF
    )
    # 10:00-10:15: EVSE 1 alone gives 300 Wh (1,200 W); EVSE 2 adds 450 Wh once 10:15 arrives
    assert loads_summary(first.loads) == [("10:00", 300.0, 1, 1.0, 0)]
    assert loads_summary(last.loads) == [("10:00", 750.0, 2, 1.0, 1)]
    assert [(p.peak_w, p.revision) for p in first.peaks + last.peaks] == [
        (1_200.0, 0),
        (3_000.0, 1),
    ]


def test_too_late_sample_is_rejected_with_its_reason(sample_factory, site_config) -> None:
    state = SiteState("SITE1")
    process_samples(
        state,
        [sample_factory("11:00", import_wh=100.0), sample_factory("12:00", import_wh=200.0)],
        site_config,
        BRUSSELS,
        AS_OF,
    )
    late = sample_factory("10:59", import_wh=90.0)
    step = process_samples(state, [late], site_config, BRUSSELS, AS_OF)
    (rejection,) = step.rejections
    letter = rejection.to_dead_letter()
    assert (letter.reason, letter.station_id, letter.source) == ("too_late", "CS1", "ocpp2.0.1")
    assert MeterSample.from_json(letter.raw) == late
    assert "10:59:00+00:00" in letter.detail and "12:00:00+00:00" in letter.detail
    assert step.loads == [] and step.peaks == []


def test_duplicate_samples_are_counted_and_change_nothing(sample_factory, site_config) -> None:
    state = SiteState("SITE1")
    samples = [sample_factory(f"10:{m:02d}", import_wh=10.0 * m, export_wh=1.0) for m in (0, 5)]
    process_samples(state, samples, site_config, BRUSSELS, AS_OF)
    before = state.to_dict()
    step = process_samples(state, samples, site_config, BRUSSELS, AS_OF)
    # two samples, two registers each
    assert (step.loads, step.peaks, step.rejections, step.duplicates) == ([], [], [], 4)
    assert state.to_dict() == before


def test_meter_reporting_only_interval_energy_counts(
    sample_factory, reading_factory, site_config
) -> None:
    def interval(ts: str, wh: float, **fields: object) -> MeterSample:
        reading = reading_factory(wh, INTERVAL, context="Sample.Periodic")
        return sample_factory(ts, readings=(reading,), **fields)

    samples = [interval(f"10:{m:02d}", 25.0 * m) for m in (0, 5, 10, 15)]
    samples.append(sample_factory("10:00", import_wh=1_000.0, evse_id=2))
    samples.append(sample_factory("10:15", import_wh=1_300.0, evse_id=2))
    step = process_samples(SiteState("SITE1"), samples, site_config, BRUSSELS, AS_OF)
    # EVSE 1: 125 + 250 + 375 = 750 Wh ((10:00, 10:05], ...; 10:00's 0 only starts it)
    # EVSE 2: register 1000 -> 1300 = 300 Wh, read exactly on both boundaries: measured,
    # however far apart (DOMAIN.md: coverage from readings at both ends)
    assert loads_summary(step.loads) == [("10:00", 1_050.0, 2, 1.0, 0)]
    assert not step.loads[0].estimated


def test_meter_with_register_and_intervals_counts_its_energy_once(
    sample_factory, reading_factory, site_config
) -> None:
    samples = [
        sample_factory(
            f"10:{m:02d}",
            import_wh=1_000.0 + 20 * m,
            readings=(reading_factory(100.0, INTERVAL, context="Sample.Periodic"),),
        )
        for m in (0, 5, 10, 15)
    ]
    step = process_samples(SiteState("SITE1"), samples, site_config, BRUSSELS, AS_OF)
    # register 1000 -> 1300 = 300 Wh and intervals 3 x 100 Wh: the same energy, once
    assert loads_summary(step.loads) == [("10:00", 300.0, 1, 1.0, 0)]


def test_resent_offline_batch_adds_no_energy(sample_factory, reading_factory, site_config) -> None:
    def both(ts: str, register_wh: float, interval_wh: float, evse: int) -> MeterSample:
        reading = reading_factory(interval_wh, INTERVAL, context="Sample.Periodic")
        return sample_factory(ts, import_wh=register_wh, readings=(reading,), evse_id=evse)

    offline = [both(f"10:{m:02d}", 1_000.0 + 10 * m, 50.0, 1) for m in (0, 5, 10, 15)]
    offline += [
        sample_factory(f"10:{m:02d}", readings=(reading_factory(40.0, INTERVAL),), evse_id=2)
        for m in (0, 5, 10, 15)
    ]
    state = SiteState("SITE1")
    # the station sends its buffer, does not get the answer, and sends it all again, once
    # inside the same batch and once more later
    first = process_samples(state, offline + offline, site_config, BRUSSELS, AS_OF)
    # EVSE 1: register 150 Wh; EVSE 2: intervals 3 x 40 = 120 Wh. Duplicates: 4 samples of
    # EVSE 1 with 2 series each, 4 of EVSE 2 with 1 series
    assert loads_summary(first.loads) == [("10:00", 270.0, 2, 1.0, 0)]
    assert first.duplicates == 12
    before = state.to_dict()
    again = process_samples(state, offline, site_config, BRUSSELS, AS_OF)
    assert (again.loads, again.peaks, again.rejections, again.duplicates) == ([], [], [], 12)
    assert state.to_dict() == before


def test_meter_swap_out_of_order_never_gives_negative_or_jumped_load(
    sample_factory, site_config
) -> None:
    old = [("10:05", 50_000.0), ("10:10", 50_050.0), ("10:14", 50_090.0)]
    new = [("10:16", 12_000.0), ("10:20", 12_040.0), ("10:25", 12_090.0), ("10:30", 12_140.0)]
    arrival = [new[0], old[0], new[2], old[2], new[3], old[1], new[1]]
    state = SiteState("SITE1")
    latest: dict[str, QuarterHourLoad] = {}
    for ts, wh in arrival:
        step = process_samples(
            state, [sample_factory(ts, import_wh=wh)], site_config, BRUSSELS, AS_OF
        )
        assert all(x.import_wh >= 0 for x in step.loads)
        latest.update((x.interval_start.strftime("%H:%M"), x) for x in step.loads)
    # old meter 50,000 -> 50,090 = 90 Wh; new meter 12,000 -> 12,140 = 140 Wh; the swap
    # (50,090 -> 12,000) counts nothing, and 12,000 is not counted from 0
    assert {s: x.import_wh for s, x in latest.items()} == {"10:00": 90.0, "10:15": 140.0}


def _fleet(sample_factory, hours: int) -> list[MeterSample]:
    start = datetime(2026, 1, 31, 21, 0, tzinfo=UTC)  # across the Brussels month boundary
    out = []
    for minute in range(0, hours * 60, 5):
        for evse in (1, 2, 3):
            wh = 10.0 * minute * evse + (minute % 7) * evse
            out.append(
                sample_factory(start + timedelta(minutes=minute), import_wh=wh, evse_id=evse)
            )
    return out


def test_snapshot_midway_continues_exactly_like_an_uninterrupted_run(
    sample_factory, site_config
) -> None:
    samples = _fleet(sample_factory, hours=4)
    batches = [samples[i : i + 40] for i in range(0, len(samples), 40)]
    straight, resumed = SiteState("SITE1"), SiteState("SITE1")
    out_straight, out_resumed = [], []
    for batch in batches:
        out_straight.append(process_samples(straight, batch, site_config, BRUSSELS, AS_OF)[1:])
        resumed = SiteState.from_dict(json.loads(json.dumps(resumed.to_dict())))
        out_resumed.append(process_samples(resumed, batch, site_config, BRUSSELS, AS_OF)[1:])
    assert out_resumed == out_straight
    peaks = [p for _, ps, *_ in out_straight for p in ps]
    assert {p.month for p in peaks} == {"2026-01", "2026-02"}
    with pytest.raises(StateError, match="version 7"):
        SiteState.from_dict({**straight.to_dict(), "version": 7})


def test_state_stays_small_over_a_long_run(sample_factory, site_config) -> None:
    state = SiteState("SITE1")
    samples = _fleet(sample_factory, hours=12)
    for i in range(0, len(samples), 100):
        process_samples(state, samples[i : i + 100], site_config, BRUSSELS, AS_OF)
    # 1 h of lateness: about 5 quarter-hours of figures and 12 readings per meter stay, and
    # the few before them whose outlier look-ahead a late reading could reach
    assert len(state.load.intervals) <= 6
    run = site_config.quarter_hour.max_outlier_run
    assert all(len(m.ts_ms) <= 16 + run for m in state.meters.values())


def test_meter_silent_longer_than_site_memory_is_not_folded_into_forgotten_intervals(
    sample_factory, site_config
) -> None:
    day = datetime(2026, 1, 15, tzinfo=UTC)
    state = SiteState("SITE1")
    quiet = [sample_factory(day + timedelta(minutes=m), import_wh=m * 10.0) for m in (0, 5)]
    busy = [
        sample_factory(day + timedelta(minutes=m), import_wh=m * 1.0, evse_id=2)
        for m in range(0, 2 * 24 * 60 + 1, 15)
    ]
    process_samples(state, quiet + busy, site_config, BRUSSELS, AS_OF)
    # EVSE 1 comes back after two days: its 50 -> 2,930 Wh spreads over the whole gap, but
    # the site remembers only 1 day, so the first day's part cannot be re-summed
    back = sample_factory(day + timedelta(days=2), import_wh=2_930.0)
    step = process_samples(state, [back], site_config, BRUSSELS, AS_OF)
    (rejection,) = step.rejections
    assert rejection.reason == "too_late" and "no longer holds" in rejection.detail
    floor = day + timedelta(days=1)
    assert step.loads and min(x.interval_start for x in step.loads) >= floor
    assert all(x.meters == 2 and x.estimated for x in step.loads)


def test_process_batch_routes_samples_to_their_site_and_time_zone(
    sample_factory, site_config
) -> None:
    # 23:30Z on 31 January: February in Brussels, still January in New York
    t = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    samples = [
        sample_factory(t + timedelta(minutes=m), import_wh=10.0 * m, site_id=site)
        for m in (0, 5, 10, 15)
        for site in ("BE", "US")
    ]
    zones = {"BE": BRUSSELS, "US": ZoneInfo("America/New_York")}
    states: dict[str, SiteState] = {}
    step = process_batch(states, samples, site_config, zones.__getitem__, AS_OF)
    assert sorted(states) == ["BE", "US"]
    assert sorted((p.site_id, p.month) for p in step.peaks) == [
        ("BE", "2026-02"),
        ("US", "2026-01"),
    ]


def test_sample_of_another_site_is_a_caller_bug(sample_factory, site_config) -> None:
    with pytest.raises(ValueError, match="OTHER"):
        process_samples(
            SiteState("SITE1"),
            [sample_factory("10:00", 1.0, site_id="OTHER")],
            site_config,
            BRUSSELS,
            AS_OF,
        )


# sample_factory keeps no state between examples
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    # One reading per meter and instant: two different values at one instant are a station
    # bug, and once that instant is forgotten the second one can only be taken for a re-send.
    steps=st.lists(
        st.tuples(st.sampled_from([1, 2, 3]), st.integers(0, 3 * 3600), st.floats(0, 300)),
        min_size=2,
        max_size=30,
        unique_by=lambda step: (step[0], step[1]),
    ),
    data=st.data(),
)
def test_site_loads_equal_the_batch_for_any_arrival_order(
    sample_factory, reading_factory, steps, data
) -> None:
    config = SiteConfig(
        quarter_hour=QuarterHourConfig(timedelta(minutes=5), timedelta(minutes=40)),
        site_memory=timedelta(days=1),
    )
    start = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    totals = {1: 0.0, 2: 0.0, 3: 0.0}
    samples = []
    for evse, seconds, wh in sorted(steps, key=lambda s: s[1]):
        totals[evse] += wh
        ts = start + timedelta(seconds=seconds)
        interval = (reading_factory(wh, INTERVAL, context="Sample.Periodic"),)
        if evse == 1:  # a register and the interval energy beside it
            samples.append(sample_factory(ts, import_wh=totals[1], readings=interval, evse_id=1))
        elif evse == 2:  # a register only
            samples.append(sample_factory(ts, import_wh=totals[2], evse_id=2))
        else:  # interval energy only
            samples.append(sample_factory(ts, readings=interval, evse_id=3))
    # some samples are sent again (a re-sent offline batch), as equal copies
    resent = data.draw(st.lists(st.sampled_from(samples), max_size=5), label="re-sent")
    samples += [s.model_copy() for s in resent]
    arrival = data.draw(st.permutations(samples))
    state = SiteState("SITE1")
    latest: dict[datetime, QuarterHourLoad] = {}
    rejected: list[MeterSample] = []
    for i in range(0, len(arrival), 7):
        step = process_samples(state, arrival[i : i + 7], config, BRUSSELS, AS_OF)
        rejected.extend(r.sample for r in step.rejections)
        latest.update((x.interval_start, x) for x in step.loads)
    # batch: each meter series' accepted readings, its final intervals, summed in one go
    accepted = [s for s in arrival if not any(s is r for r in rejected)]
    finals = []
    for key, points in energy_points(accepted).items():
        finals += [
            iv
            for iv in energy_of_intervals(
                points, start, start + timedelta(hours=4), config.quarter_hour, meter_key=key
            )
            if iv.final
        ]
    batch = site_quarter_hour(SiteLoadState("SITE1"), finals, config.quarter_hour, AS_OF).loads
    assert {
        x.interval_start: (x.import_wh, x.meters, x.completeness, x.estimated) for x in batch
    } == {s: (x.import_wh, x.meters, x.completeness, x.estimated) for s, x in latest.items()}
