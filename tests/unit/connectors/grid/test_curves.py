"""Points laid on their Period: curveType A03 forward fill and the fixed-block curves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.grid.curves import CurveProblem, Slot, expand

T0 = datetime(2025, 10, 11, 22, 0, tzinfo=UTC)
Q = timedelta(minutes=15)


def test_a03_repeats_the_previous_point_and_extends_the_last_to_the_period_end() -> None:
    # 6 quarter-hours; points at 1, 2 and 5: slots 3-4 repeat position 2, slot 6 position 5
    slots = expand(T0, T0 + 6 * Q, Q, [(1, 0.01), (2, 0.0), (5, -3.5)], "A03")
    assert slots == [
        Slot(T0, T0 + Q, 0.01),
        Slot(T0 + Q, T0 + 2 * Q, 0.0),
        Slot(T0 + 2 * Q, T0 + 3 * Q, 0.0),
        Slot(T0 + 3 * Q, T0 + 4 * Q, 0.0),
        Slot(T0 + 4 * Q, T0 + 5 * Q, -3.5),
        Slot(T0 + 5 * Q, T0 + 6 * Q, -3.5),
    ]


def test_a01_gives_only_the_positions_present_in_time_order() -> None:
    slots = expand(T0, T0 + 4 * Q, Q, [(3, 30.0), (1, 10.0)], "A01")
    assert slots == [Slot(T0, T0 + Q, 10.0), Slot(T0 + 2 * Q, T0 + 3 * Q, 30.0)]


@pytest.mark.parametrize(
    ("end", "points", "curve", "reason", "detail"),
    [
        (T0 + 4 * Q, [(2, 1.0)], "A03", "malformed_document", "without position 1"),
        (T0 + 4 * Q, [(1, 1.0), (5, 2.0)], "A03", "malformed_document", "position 5 outside 1..4"),
        (T0 + 4 * Q, [(1, 1.0), (1, 2.0)], "A01", "malformed_document", "position 1 given twice"),
        (T0 + 50 * timedelta(minutes=1), [(1, 1.0)], "A03", "bad_resolution", "does not tile"),
        (T0, [(1, 1.0)], "A03", "bad_resolution", "does not tile"),  # an empty period
    ],
)  # fmt: skip
def test_points_that_do_not_fit_their_period_are_a_problem_not_an_exception(
    end: datetime, points: list[tuple[int, float]], curve: str, reason: str, detail: str
) -> None:
    problem = expand(T0, end, Q, points, curve)  # type: ignore[arg-type]
    assert isinstance(problem, CurveProblem)
    assert problem.reason == reason
    assert detail in problem.detail


@st.composite
def a03_periods(draw: st.DrawFn) -> tuple[int, dict[int, float]]:
    """A period of 1..100 quarter-hours and its present points (position 1 always)."""
    slots = draw(st.integers(min_value=1, max_value=100))
    others = draw(st.sets(st.integers(min_value=2, max_value=max(2, slots)), max_size=slots))
    positions = {1} | {p for p in others if p <= slots}
    values = draw(st.lists(st.floats(-500, 5000, allow_nan=False), min_size=len(positions),
                           max_size=len(positions)))  # fmt: skip
    return slots, dict(zip(sorted(positions), values, strict=True))


@given(a03_periods())
def test_a03_fills_every_slot_with_the_latest_present_point_at_or_before_it(
    period: tuple[int, dict[int, float]],
) -> None:
    slots, points = period
    expanded = expand(T0, T0 + slots * Q, Q, list(points.items()), "A03")
    assert isinstance(expanded, list)
    assert len(expanded) == slots  # every quarter-hour of the period, once
    # the slots tile [T0, end): each starts where the previous one ended
    assert [s.start for s in expanded] == [T0 + i * Q for i in range(slots)]
    assert all(s.end - s.start == Q for s in expanded)
    for index, slot in enumerate(expanded, start=1):
        latest = max(p for p in points if p <= index)
        assert slot.value == points[latest]


@given(a03_periods(), st.permutations(range(100)))
def test_a03_does_not_depend_on_the_order_of_the_points(
    period: tuple[int, dict[int, float]], order: list[int]
) -> None:
    slots, points = period
    items = list(points.items())
    shuffled = sorted(items, key=lambda item: order[item[0] - 1])
    assert expand(T0, T0 + slots * Q, Q, shuffled, "A03") == expand(
        T0, T0 + slots * Q, Q, items, "A03"
    )
