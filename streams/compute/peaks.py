"""A site's monthly quarter-hour peak (DOMAIN.md, Peaks and capacity tariffs).

The peak of a month is the highest average import power of any quarter-hour
``[start, start + 15 min)`` whose start falls in that month in the site's time zone
(``gridstream.periods.month_of``): 2026-01-31T23:30Z is 00:30 on 1 February in Brussels.

A ``Peak`` is emitted whenever the month's peak changes: its first quarter-hour, a higher
one, or a revision of the quarter-hour holding the peak (up, or down, in which case the
peak moves to the next highest quarter-hour of the month). Each emission takes the month's
next revision (0 first); consumers keep the latest per (site_id, month). Of equal powers
the earliest quarter-hour holds the peak, so the result does not depend on arrival order.

The state keeps, per month, each quarter-hour still open to revision and the highest of
those that no longer are (``settle_before_ms``), and the last 13 months.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from gridstream.errors import StateError
from gridstream.periods import from_epoch_ms, month_of, to_epoch_ms
from gridstream.records import Peak, QuarterHourLoad

PEAKS_COMPUTED_BY = "peaks/1"
MONTHS_KEPT = 13


class _Month:
    __slots__ = ("emitted", "open", "settled")

    def __init__(self) -> None:
        # open[start_ms] = (avg_import_w, load revision)
        self.open: dict[int, tuple[float, int]] = {}
        # highest settled quarter-hour: (avg_import_w, start_ms)
        self.settled: tuple[float, int] | None = None
        # last emitted: (peak_w, start_ms, revision)
        self.emitted: tuple[float, int, int] | None = None

    def peak(self) -> tuple[float, int] | None:
        best = self.settled
        for s, (w, _) in self.open.items():
            if best is None or w > best[0] or (w == best[0] and s < best[1]):
                best = (w, s)
        return best


class PeakState:
    """Per-site peak state; ``monthly_peaks`` updates it in place and returns it."""

    __slots__ = ("months", "site_id")

    VERSION = 1

    def __init__(self, site_id: str) -> None:
        """An empty state for ``site_id``."""
        self.site_id = site_id
        self.months: dict[str, _Month] = {}

    def settle_before_ms(self, floor_ms: int) -> None:
        """Fold quarter-hours starting before ``floor_ms`` (no longer revisable) into one."""
        for month in self.months.values():
            old = [s for s in month.open if s < floor_ms]
            for s in old:
                w, _ = month.open.pop(s)
                best = month.settled
                if best is None or w > best[0] or (w == best[0] and s < best[1]):
                    month.settled = (w, s)
        for key in sorted(self.months)[:-MONTHS_KEPT]:
            del self.months[key]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot.

        ``{"version", "site_id", "months": {"YYYY-MM": {"open": [[start_ms, w, revision]],
        "settled": [w, start_ms] | null, "emitted": [w, start_ms, revision] | null}}}``.
        """
        return {
            "version": self.VERSION,
            "site_id": self.site_id,
            "months": {
                key: {
                    "open": [[s, w, r] for s, (w, r) in m.open.items()],
                    "settled": list(m.settled) if m.settled else None,
                    "emitted": list(m.emitted) if m.emitted else None,
                }
                for key, m in self.months.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PeakState:
        """Restore a ``to_dict`` snapshot; ``StateError`` for an unknown version."""
        version = data.get("version")
        if version != cls.VERSION:
            raise StateError(
                f"PeakState snapshot version {version!r} of site {data.get('site_id')!r} "
                f"is not supported (expected {cls.VERSION}); rebuild it from load.quarter_hour"
            )
        state = cls(data["site_id"])
        for key, m in data["months"].items():
            month = state.months[key] = _Month()
            month.open = {int(s): (float(w), int(r)) for s, w, r in m["open"]}
            if m["settled"] is not None:
                w, s = m["settled"]
                month.settled = (float(w), int(s))
            if m["emitted"] is not None:
                w, s, r = m["emitted"]
                month.emitted = (float(w), int(s), int(r))
        return state


class PeakStep(NamedTuple):
    """What ``monthly_peaks`` returns."""

    state: PeakState
    peaks: list[Peak]


def monthly_peaks(
    state: PeakState,
    loads: Sequence[QuarterHourLoad],
    zone: ZoneInfo,
    as_of: datetime,
    computed_by: str = PEAKS_COMPUTED_BY,
) -> PeakStep:
    """Fold a batch of the site's quarter-hour loads into its monthly peaks.

    ``loads`` of this site in any order; of one quarter-hour the highest revision counts.
    ``zone`` is the site's time zone (months). Emits one ``Peak`` per month whose peak
    (power or quarter-hour) changed, with the month's next revision, ordered by month.
    Raises ``ValueError`` for a load of another site (a caller's bug).
    """
    touched: set[str] = set()
    for load in loads:
        if load.site_id != state.site_id:
            raise ValueError(f"load of site {load.site_id!r} given to peaks of {state.site_id!r}")
        key = month_of(load.interval_start, zone)
        month = state.months.get(key)
        if month is None:
            month = state.months[key] = _Month()
        s = to_epoch_ms(load.interval_start)
        held = month.open.get(s)
        if held is not None and held[1] > load.revision:
            continue
        month.open[s] = (load.avg_import_w, load.revision)
        touched.add(key)
    peaks: list[Peak] = []
    for key in sorted(touched):
        month = state.months[key]
        best = month.peak()
        if best is None:
            continue
        emitted = month.emitted
        if emitted is not None and (emitted[0], emitted[1]) == best:
            continue
        revision = 0 if emitted is None else emitted[2] + 1
        month.emitted = (best[0], best[1], revision)
        peaks.append(
            Peak(
                site_id=state.site_id,
                month=key,
                peak_w=best[0],
                interval_start=from_epoch_ms(best[1]),
                revision=revision,
                computed_by=computed_by,
                as_of=as_of,
            )
        )
    return PeakStep(state, peaks)
