"""Quarter-hour energy of one meter: the rules of DOMAIN.md, Intervals and energy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridstream.errors import ConfigError, StateError
from streams.compute.quarter_hour import (
    IntervalEnergy,
    QuarterHourConfig,
    RegisterPoint,
    RegisterState,
    add_readings,
    energy_of_intervals,
    register_at,
)

DAY = datetime(2026, 1, 15, tzinfo=UTC)
KEY = ("CS1", 1, "Energy.Active.Import.Register")


def at(hhmmss: str) -> datetime:
    """``"10:07:30"`` on the test day, UTC."""
    h, m, s = ([int(p) for p in hhmmss.split(":")] + [0])[:3]
    return DAY + timedelta(hours=h, minutes=m, seconds=s)


def point(hhmmss: str, wh: float) -> RegisterPoint:
    return RegisterPoint(at(hhmmss), wh)


def feed(state: RegisterState, config: QuarterHourConfig, *points: RegisterPoint):
    return add_readings(state, list(points), config)


def figures(iv: IntervalEnergy) -> tuple[str, float, float, bool, int]:
    return (iv.start.strftime("%H:%M"), iv.wh, iv.completeness, iv.estimated, iv.revision)


def test_energy_is_register_difference_interpolated_at_boundaries() -> None:
    config = QuarterHourConfig(max_gap=timedelta(minutes=15), allowed_lateness=timedelta(hours=1))
    readings = [point("10:07:30", 1000), point("10:22:30", 1300), point("10:30", 1400)]
    # R(10:15) = 1000 + 300 x 7.5 / 15 = 1150
    assert register_at(readings, at("10:15")) == 1150
    step = add_readings(RegisterState(KEY), readings, config)
    assert [figures(iv) for iv in step.intervals] == [
        # [10:00, 10:15): nothing before 10:07:30, so R(10:15) - R(10:07:30) = 150 Wh over
        # the 7.5 of 15 minutes the readings cover
        ("10:00", 150.0, 0.5, False, 0),
        # [10:15, 10:30): R(10:30) - R(10:15) = 1400 - 1150 = 250 Wh, fully covered
        ("10:15", 250.0, 1.0, False, 0),
    ]


def test_register_at_is_none_outside_the_readings_and_across_a_reset() -> None:
    readings = [point("10:00", 5000), point("10:10", 20)]
    assert register_at(readings, at("09:59")) is None
    assert register_at(readings, at("10:05")) is None  # 5000 -> 20: a reset, no line
    assert register_at(readings, at("10:10")) == 20
    assert register_at(readings, at("10:11")) is None


def test_reading_on_a_boundary_closes_one_interval_and_opens_the_next(qh_config) -> None:
    state = RegisterState(KEY)
    step = feed(state, qh_config, point("10:05", 1000), point("10:10", 1100), point("10:15", 1200))
    # 10:15 is the end of [10:00, 10:15): final; 10:05 -> 10:15 gives 200 Wh over 10 of 15 min
    assert [figures(iv) for iv in step.intervals] == [("10:00", 200.0, 10 / 15, False, 0)]
    # 10:15 also opens [10:15, 10:30): 1200 -> 1400 once 10:30 has arrived
    step = feed(state, qh_config, point("10:20", 1250), point("10:25", 1300))
    assert step.intervals == []
    step = feed(state, qh_config, point("10:30", 1400))
    assert [figures(iv) for iv in step.intervals] == [("10:15", 200.0, 1.0, False, 0)]


def test_interval_is_not_final_until_a_reading_at_or_after_its_end(qh_config) -> None:
    readings = [
        point("10:00", 0),
        point("10:05", 50),
        point("10:10", 100),
        point("10:14:59", 149.9),
    ]
    state = RegisterState(KEY)
    assert feed(state, qh_config, *readings).intervals == []
    # the batch path sees it too, and says it is not final
    (open_interval,) = energy_of_intervals(
        readings, at("10:00"), at("10:15"), qh_config, meter_key=KEY
    )
    assert not open_interval.final
    (closed,) = feed(state, qh_config, point("10:15", 150)).intervals
    assert closed.final and closed.wh == 150.0


def test_register_reset_starts_a_new_segment_without_negative_energy(qh_config) -> None:
    state = RegisterState(KEY)
    step = feed(
        state,
        qh_config,
        point("10:00", 5000),
        point("10:05", 5100),
        point("10:10", 20),  # a replaced meter: the register starts again low
        point("10:15", 120),
    )
    # 5000 -> 5100 (+100), the drop to 20 counts nothing, 20 -> 120 (+100): 200 Wh.
    # 10:05 -> 10:10 straddles the reset, so 10 of 15 minutes are covered.
    assert [figures(iv) for iv in step.intervals] == [("10:00", 200.0, 10 / 15, False, 0)]


def test_gap_over_max_gap_spreads_energy_evenly_and_flags_estimated(qh_config) -> None:
    step = feed(RegisterState(KEY), qh_config, point("10:00", 1000), point("10:30", 1600))
    # 600 Wh over 30 min, readings 30 min apart (> 5 min): 300 Wh in each quarter-hour,
    # none of it measured
    assert [figures(iv) for iv in step.intervals] == [
        ("10:00", 300.0, 0.0, True, 0),
        ("10:15", 300.0, 0.0, True, 0),
    ]


def test_flat_register_over_a_long_gap_is_exactly_zero_and_not_estimated(qh_config) -> None:
    # A register never runs backwards: 1000 at both ends means 0 Wh in every part between.
    step = feed(RegisterState(KEY), qh_config, point("10:00", 1000), point("10:30", 1000))
    assert [figures(iv) for iv in step.intervals] == [
        ("10:00", 0.0, 1.0, False, 0),
        ("10:15", 0.0, 1.0, False, 0),
    ]


def test_late_reading_reemits_the_interval_with_the_next_revision(qh_config) -> None:
    state = RegisterState(KEY)
    step = feed(state, qh_config, point("10:00", 1000), point("10:10", 1100), point("10:20", 1300))
    # R(10:15) = 1100 + 200 x 5 / 10 = 1200: 200 Wh, readings 10 min apart: estimated
    assert [figures(iv) for iv in step.intervals] == [("10:00", 200.0, 0.0, True, 0)]
    step = feed(state, qh_config, point("10:15", 1150))
    # now R(10:15) = 1150: 150 Wh; 10:10 -> 10:15 (5 min) is measured: 5 / 15 covered
    assert [figures(iv) for iv in step.intervals] == [("10:00", 150.0, 5 / 15, True, 1)]


def test_reading_past_allowed_lateness_is_rejected_as_too_late(qh_config) -> None:
    state = RegisterState(KEY)
    feed(state, qh_config, point("11:00", 100), point("12:00", 200))
    before = state.to_dict()
    step = feed(state, qh_config, point("10:59:59", 50))
    # newest 12:00 minus 1 h of lateness: 11:00 is the oldest acceptable instant
    assert step.too_late == [point("10:59:59", 50)]
    assert step.intervals == [] and state.to_dict() == before
    # 11:00 itself is still acceptable (a duplicate here), and so is 11:30, which bends the
    # line 100 -> 200: R(11:15) = 130, R(11:45) = 180, so 30, 30, 20, 20 Wh instead of 4 x 25
    step = feed(state, qh_config, point("11:00", 100), point("11:30", 160))
    assert (step.too_late, step.duplicates) == ([], 1)
    assert [(iv.wh, iv.revision) for iv in step.intervals] == [(30, 1), (30, 1), (20, 1), (20, 1)]


def test_duplicate_reading_changes_nothing(qh_config) -> None:
    state = RegisterState(KEY)
    readings = [point("10:00", 1000), point("10:05", 1050), point("10:15", 1150)]
    feed(state, qh_config, *readings)
    before = state.to_dict()
    step = feed(state, qh_config, *readings)
    assert (step.intervals, step.too_late, step.duplicates) == ([], [], 3)
    assert state.to_dict() == before


def test_two_values_at_one_instant_keep_the_higher_whatever_their_order(qh_config) -> None:
    state = RegisterState(KEY)
    feed(state, qh_config, point("10:00", 1000), point("10:05", 1050), point("10:15", 1150))
    # a lower value at 10:05 is not news: a register only rises
    assert feed(state, qh_config, point("10:05", 1040)).duplicates == 1
    # a higher one is: 10:00 -> 10:05 now +60, 10:05 -> 10:10 interpolated, total unchanged,
    # but the 10 minutes to 10:15 are still over the 5 min gap
    step = feed(state, qh_config, point("10:05", 1060))
    assert step.duplicates == 0
    assert register_at([point("10:05", 1040), point("10:05", 1060)], at("10:05")) == 1060


def test_state_keeps_only_readings_that_can_still_matter(qh_config) -> None:
    state = RegisterState(KEY)
    minutes = [DAY + timedelta(hours=8, minutes=m) for m in range(10 * 60)]
    add_readings(state, [RegisterPoint(t, 10.0 * i) for i, t in enumerate(minutes)], qh_config)
    # 1 h of lateness at one reading a minute: the last 60 readings, the few before them up
    # to the quarter-hour the oldest acceptable reading would revise, and the figures of
    # the quarter-hours from there on
    assert 60 <= len(state.ts_ms) <= 60 + 16
    assert len(state.emitted) <= 5


def test_config_refuses_a_gap_that_is_not_positive() -> None:
    with pytest.raises(ConfigError, match="GRIDSTREAM_MAX_GAP_S"):
        QuarterHourConfig(max_gap=timedelta(0), allowed_lateness=timedelta(hours=1))


def test_snapshot_round_trips_and_refuses_an_unknown_version(qh_config) -> None:
    state = RegisterState(KEY)
    feed(state, qh_config, point("10:00", 1000), point("10:10", 1100), point("10:20", 1300))
    restored = RegisterState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored.to_dict() == state.to_dict() and restored.meter_key == KEY
    # the restored state goes on exactly as the original
    late = point("10:15", 1150)
    assert feed(restored, qh_config, late) == feed(state, qh_config, late)._replace(state=restored)
    with pytest.raises(StateError, match="version 2"):
        RegisterState.from_dict({**state.to_dict(), "version": 2})


# --- stream equals batch ---------------------------------------------------------------

# A meter's history: seconds after 10:00 (any spacing, duplicates allowed) and the register
# step at each (mostly up, sometimes a reset to a low value).
_history = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4 * 3600),
        st.one_of(st.floats(min_value=0, max_value=500, allow_nan=False), st.just(-1.0)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    history=_history,
    data=st.data(),
    lateness_min=st.sampled_from([0, 20, 60, 300]),
    max_gap_min=st.sampled_from([1, 5, 20]),
)
def test_stream_equals_batch_for_any_arrival_order(
    history: list[tuple[int, float]], data: st.DataObject, lateness_min: int, max_gap_min: int
) -> None:
    config = QuarterHourConfig(
        max_gap=timedelta(minutes=max_gap_min), allowed_lateness=timedelta(minutes=lateness_min)
    )
    wh = 0.0
    points = []
    for seconds, step in sorted(history):
        wh = wh + step if step >= 0 else 3.0  # -1: the register resets to 3 Wh
        points.append(RegisterPoint(DAY + timedelta(hours=10, seconds=seconds), wh))
    arrival = data.draw(st.permutations(points), label="arrival order")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(arrival)), max_size=5), label="batches"))
    state = RegisterState(KEY)
    latest: dict[datetime, IntervalEnergy] = {}
    too_late: list[RegisterPoint] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(arrival)], strict=True):
        # a snapshot between batches must change nothing
        state = RegisterState.from_dict(json.loads(json.dumps(state.to_dict())))
        step = add_readings(state, arrival[lo:hi], config)
        too_late.extend(step.too_late)
        for iv in step.intervals:
            previous = latest.get(iv.start)
            assert iv.revision == (0 if previous is None else previous.revision + 1)
            latest[iv.start] = iv
    accepted = list(arrival)
    for p in too_late:
        accepted.remove(p)
    batch = energy_of_intervals(accepted, DAY, DAY + timedelta(days=1), config, meter_key=KEY)
    expected = {iv.start: (iv.wh, iv.completeness, iv.estimated) for iv in batch if iv.final}
    assert {s: (iv.wh, iv.completeness, iv.estimated) for s, iv in latest.items()} == expected
