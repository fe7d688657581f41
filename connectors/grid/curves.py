"""Points of a time series to intervals: the curve types of IEC 62325 (ENTSO-E) documents.

A Period ``[start, end)`` with a ``resolution`` has ``(end - start) / resolution`` slots;
``Point`` *i* (positions count from 1) covers ``[start + (i-1)·resolution, start +
i·resolution)``. curveType ``A01`` (fixed size blocks) and ``A02`` (points) give a value
only for the positions present. ``A03`` (variable sized blocks) gives each present point
until the next present position, the last one until the end of the Period ("the end …
of each Block [is] equal to the start … of the next Interval"; GRID.md 1.2): an absent
position repeats the previous present value. Position 1 must then be present: nothing
before it in the Period says what it would repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

CurveType = Literal["A01", "A02", "A03"]


@dataclass(frozen=True)
class Slot:
    """One interval ``[start, end)`` and its value."""

    start: datetime
    end: datetime
    value: float


@dataclass(frozen=True)
class CurveProblem:
    """Why points cannot be laid on their Period: a reason code and a detail."""

    reason: str
    detail: str


def slot_count(start: datetime, end: datetime, resolution: timedelta) -> int | None:
    """How many ``resolution`` slots tile ``[start, end)``; None when they do not tile it.

    >>> from datetime import UTC
    >>> day = datetime(2025, 10, 11, 22, tzinfo=UTC)
    >>> slot_count(day, day + timedelta(hours=24), timedelta(minutes=15))
    96
    >>> slot_count(day, day + timedelta(minutes=20), timedelta(minutes=15)) is None
    True
    """
    span = end - start
    if span <= timedelta(0) or span % resolution:
        return None
    return span // resolution


def expand(
    start: datetime,
    end: datetime,
    resolution: timedelta,
    points: Sequence[tuple[int, float]],
    curve_type: CurveType,
) -> list[Slot] | CurveProblem:
    """The slots of a Period ``[start, end)`` from its ``(position, value)`` points.

    ``A03``: one slot per resolution step of the whole Period, forward-filled from the
    previous present position; ``A01``/``A02``: one slot per present position. Slots come
    in time order. A position outside ``1..slots``, a position given twice, a resolution
    that does not tile the Period, or (``A03``) a missing position 1 is a ``CurveProblem``.

    Worked example (A03, PT15M, one hour, points 1 and 3): slots 1 and 2 carry the value of
    position 1, slots 3 and 4 that of position 3.

    >>> from datetime import UTC
    >>> t = datetime(2025, 10, 12, 0, tzinfo=UTC)
    >>> [s.value for s in expand(t, t + timedelta(hours=1), timedelta(minutes=15),
    ...                          [(1, 5.0), (3, 7.0)], "A03")]
    [5.0, 5.0, 7.0, 7.0]
    """
    slots = slot_count(start, end, resolution)
    if slots is None:
        return CurveProblem(
            "bad_resolution",
            f"resolution {resolution} does not tile the period "
            f"[{start.isoformat()}, {end.isoformat()})",
        )
    by_position: dict[int, float] = {}
    for position, value in points:
        if not 1 <= position <= slots:
            return CurveProblem(
                "malformed_document",
                f"position {position} outside 1..{slots} of the period starting "
                f"{start.isoformat()}",
            )
        if position in by_position:
            return CurveProblem(
                "malformed_document",
                f"position {position} given twice in the period starting {start.isoformat()}",
            )
        by_position[position] = value
    if curve_type != "A03":
        return [
            Slot(start + (p - 1) * resolution, start + p * resolution, by_position[p])
            for p in sorted(by_position)
        ]
    if 1 not in by_position:
        return CurveProblem(
            "malformed_document",
            f"curveType A03 without position 1 in the period starting {start.isoformat()}: "
            "nothing says what the first block is",
        )
    out: list[Slot] = []
    value = by_position[1]
    for p in range(1, slots + 1):
        value = by_position.get(p, value)
        out.append(Slot(start + (p - 1) * resolution, start + p * resolution, value))
    return out
