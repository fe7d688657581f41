"""Each quirk happens where and when the fleet says, and only there (offline, no websockets)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from simulator import (
    EvseSpec,
    MeterReset,
    Misread,
    Offline,
    Sampling,
    StationSpec,
    Visit,
    plan_sessions,
    simulate,
)
from simulator.evse import EvseStep
from simulator.quirks import misread_wh
from simulator.timeline import sample_instants

START = datetime(2026, 1, 15, 10, tzinfo=UTC)
HOUR = START + timedelta(hours=1)


def minutes(m: float) -> datetime:
    return START + timedelta(minutes=m)


def _min(m: float) -> timedelta:
    return timedelta(seconds=round(m * 60))


#: An EV at 11,040 W (184 Wh a minute) from 10:02 for an hour, far from its target.
CHARGING = Visit(_min(2), _min(60), ev_max_power_w=11_040.0, soc_start_pct=20.0)


def station(evse: EvseSpec, **extra: object) -> StationSpec:
    return StationSpec("Q", "SITE", "2.0.1", (evse,), **extra)  # type: ignore[arg-type]


def steps_of(spec: StationSpec, end: datetime = HOUR) -> list[EvseStep]:
    return simulate(spec, START, end, timedelta(minutes=1))


def test_a_station_samples_off_the_boundaries_at_its_own_period() -> None:
    # 37 s: 10:00:00, 10:00:37, ... 10:14:48 (24 x 37 s = 888 s), then the boundary again.
    grid = list(itertools.islice(sample_instants(START, timedelta(seconds=37)), 26))
    assert grid[0] == (START, "clock")
    assert grid[24] == (START + timedelta(seconds=888), "periodic")
    assert grid[25] == (minutes(15), "clock")
    # Every minute too: 24 periodic + 14 minute boundaries (none of them coincide).
    first = itertools.takewhile(
        lambda tk: tk[0] < minutes(15),
        sample_instants(START, timedelta(seconds=37), every_minute=True),
    )
    kinds = [kind for _, kind in first]
    assert (kinds.count("clock"), kinds.count("periodic")) == (15, 24)


def test_a_misread_shows_once_on_a_periodic_sample_and_the_next_reading_is_right() -> None:
    evse = EvseSpec(
        1,
        "ac_11kw",
        seed=1,
        initial_import_wh=1_000_000,
        visits=(CHARGING,),
        misread=Misread(_min(20), "zero"),
    )
    steps = steps_of(station(evse, sampling=Sampling(period=_min(7))))
    misread = [s for s in steps if s.reading.misread_wh is not None]
    # The first periodic sample at or after 10:20 is 10:22 (10:15 + 7 min); the meter
    # truly reads 1,000,000 + 20 min x 184 = 1,003,680 Wh there, and shows 0.
    [step] = misread
    assert (step.ts, step.sample, step.reading.misread_wh) == (minutes(22), "periodic", 0)
    assert (step.reading.import_wh, step.reading.shown_import_wh) == (1_003_680, 0)
    after = next(s for s in steps if s.ts > step.ts)
    assert (after.ts, after.reading.shown_import_wh) == (minutes(29), 1_000_000 + 27 * 184)


def test_a_digit_misread_reads_one_digit_as_zero_or_nine() -> None:
    assert misread_wh(1_003_680, "digit") == 1_000_680  # the 3 reads as 0
    assert misread_wh(1_003_680, "jump") == 1_903_680  # the first 0 reads as 9
    assert misread_wh(1_003_680, "zero") == 0


def test_a_reset_starts_a_new_meter_that_stays_below_the_old_one() -> None:
    evse = EvseSpec(
        1,
        "ac_11kw",
        seed=1,
        initial_import_wh=1_000_000,
        visits=(CHARGING,),
        reset=MeterReset(_min(25 + 1 / 6), new_import_wh=1_000),
    )
    steps = steps_of(station(evse, sampling=Sampling(period=_min(7))))
    readings = [(s.ts, s.reading.meter_no, s.reading.import_wh) for s in steps]
    # 10:22: old meter, 1,000,000 + 20 x 184. The reset at 10:25:10 is not reported by
    # itself; at 10:29 the new meter reads 1,000 + 11,040 W x 230 s = 1,000 + 705.3.
    assert (minutes(22), 0, 1_003_680) in readings
    assert (minutes(29), 1, 1_705) in readings
    new = [wh for ts, no, wh in readings if ts >= minutes(29)]
    assert max(new) < 1_003_680 and all(no == 1 for ts, no, _ in readings if ts > minutes(25))


def test_steps_in_an_offline_window_are_marked_and_no_others() -> None:
    evse = EvseSpec(1, "ac_11kw", seed=1, visits=(CHARGING,))
    steps = steps_of(station(evse, offline=(Offline(_min(20), _min(20)),)))
    offline = {s.ts for s in steps if s.offline}
    assert offline == {minutes(m) for m in range(20, 40)}


def test_a_visit_may_reuse_the_transaction_id_of_the_session_before() -> None:
    evse = EvseSpec(
        1,
        "dc_50kw",
        seed=9,
        visits=(
            Visit(_min(3), _min(15), 50_000.0),
            Visit(_min(42), _min(15), 50_000.0, reuse_transaction_id=True),
        ),
    )
    first, second, drawn = itertools.islice(plan_sessions(evse, START), 3)
    assert (first.arrival, first.departure) == (minutes(3), minutes(18))
    assert (second.arrival, second.departure) == (minutes(42), minutes(57))
    assert second.transaction_id == first.transaction_id == first.session_id
    assert second.session_id != first.session_id
    # Drawn sessions follow the planned ones, each with its own id.
    assert drawn.arrival >= minutes(57) and drawn.transaction_id == drawn.session_id


def test_a_power_only_evse_s_power_changes_only_at_instants_it_reports() -> None:
    # The EV tapers from 90 %: its power changes at every sample. Between two reported
    # instants the meter (kept inside, never sent) grows by the power reported at the
    # first one x the time between them: the power sent is piecewise constant, so the
    # trapezoid of the samples equals the truth except over a pair across a change.
    tapering = Visit(_min(2), _min(40), 11_040.0, 88.0, 100.0, capacity_wh=40_000.0)
    evse = EvseSpec(1, "ac_11kw", seed=1, meter="power_only", visits=(tapering,))
    steps = steps_of(station(evse, sampling=Sampling(period=timedelta(seconds=10))))
    distinct = [next(g) for _, g in itertools.groupby(steps, key=lambda s: s.ts)]
    powers = {s.reading.power_w for s in distinct}
    assert len(powers) > 10  # it did taper
    for a, b in itertools.pairwise(distinct):
        held_wh = a.reading.power_w * (b.ts - a.ts).total_seconds() / 3600.0
        grown_wh = b.reading.import_wh - a.reading.import_wh
        assert abs(grown_wh - held_wh) < 1.0 or b.reading.soc_pct == 100.0, (a.ts, b.ts)
