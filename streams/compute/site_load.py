"""A site's quarter-hour load: its meters' interval energies summed (DOMAIN.md, Intervals).

Meters of one site finish an interval ``[start, start + 15 min)`` at different moments, so
the site keeps, per interval still open to revision, the latest figures of each meter, and
re-emits the site's ``QuarterHourLoad`` with ``revision + 1`` whenever one of them arrives
or changes: the latest revision is always the sum over every meter heard so far.

Rules of the sum:

- ``import_wh`` sums the meters' import energy, ``export_wh`` their export energy; average
  power is energy / 0.25 h.
- One series per meter and direction: a meter that reports the same energy in several
  series (a register and ``*.Interval`` energy; periodic and clock-aligned intervals) counts
  the one with the highest completeness for the interval; on a tie, the register, then
  periodic intervals, then clock-aligned ones (``meter_registers.SERIES``). Never two, so
  nothing is counted twice. Completeness first, not "the register always": a 1.6 station
  that reports periodic ``*.Interval`` energy also has the registers of its StartTransaction
  and StopTransaction, whose single pair spreads the whole session evenly (estimated, not
  covered); the measured intervals are the better figure there.
- A station's main meter (``evse_id`` 0) measures what its EVSEs measure (plus the station's
  own use); it counts for an interval only when none of that station's EVSE meters reported
  it, else the energy would be counted twice. A meter with ``evse_id`` None (the protocol
  did not say) counts as an EVSE meter.
- ``meters``: the (station, EVSE) pairs counted. ``completeness``: the lowest of the counted
  registers' completeness. The lowest, not an energy-weighted mean: a meter with no
  coverage may hide any amount of energy, so the site figure is only as complete as its
  least covered meter (and a weighted mean is undefined for an idle quarter-hour).
  ``estimated``: any counted register is estimated.
- Sums use ``math.fsum``, so the result does not depend on arrival order.

Departure from DOMAIN.md ("site load = sum over its EVSEs"): the sum is over meters, one
series each per direction, as above; DOMAIN.md knows only registers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from gridstream.errors import StateError
from gridstream.periods import QUARTER_HOUR_H, from_epoch_ms, to_epoch_ms
from gridstream.records import QuarterHourLoad
from streams.compute.meter_registers import SERIES
from streams.compute.quarter_hour import IntervalEnergy, MeterKey, QuarterHourConfig

# One meter's latest figures for an interval: (wh, completeness, estimated).
_Figures = tuple[float, float, bool]


class SiteLoadState:
    """Per-site state: per interval start (epoch ms), each meter's latest figures.

    ``floor_ms``: intervals starting before it are no longer held (see ``forget_before_ms``).
    ``site_quarter_hour`` updates the state in place and returns it.
    """

    __slots__ = ("floor_ms", "intervals", "revisions", "site_id")

    VERSION = 1

    def __init__(self, site_id: str) -> None:
        """An empty state for ``site_id``."""
        self.site_id = site_id
        self.intervals: dict[int, dict[MeterKey, _Figures]] = {}
        self.revisions: dict[int, int] = {}
        self.floor_ms: int | None = None

    def forget_before_ms(self, floor_ms: int) -> None:
        """Drop intervals starting before ``floor_ms``; later figures for them are refused.

        The caller passes the earliest start any of the site's meters can still revise.
        """
        if self.floor_ms is not None and floor_ms <= self.floor_ms:
            return
        self.floor_ms = floor_ms
        for s in [s for s in self.intervals if s < floor_ms]:
            del self.intervals[s]
            del self.revisions[s]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot.

        ``{"version", "site_id", "floor_ms", "intervals": [[start_ms, revision, [[station,
        evse, measurand, wh, completeness, estimated], ...]], ...]}``.
        """
        return {
            "version": self.VERSION,
            "site_id": self.site_id,
            "floor_ms": self.floor_ms,
            "intervals": [
                [s, self.revisions[s], [[*k, *f] for k, f in meters.items()]]
                for s, meters in self.intervals.items()
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteLoadState:
        """Restore a ``to_dict`` snapshot; ``StateError`` for an unknown version."""
        version = data.get("version")
        if version != cls.VERSION:
            raise StateError(
                f"SiteLoadState snapshot version {version!r} of site {data.get('site_id')!r} "
                f"is not supported (expected {cls.VERSION}); rebuild it by replaying the site"
            )
        state = cls(data["site_id"])
        state.floor_ms = data["floor_ms"]
        for s, revision, meters in data["intervals"]:
            state.revisions[s] = revision
            state.intervals[s] = {
                (st, ev, m): (float(w), float(c), bool(e)) for st, ev, m, w, c, e in meters
            }
        return state


class SiteLoadStep(NamedTuple):
    """What ``site_quarter_hour`` returns.

    ``too_old``: meter intervals starting before the state's floor, not folded in.
    """

    state: SiteLoadState
    loads: list[QuarterHourLoad]
    too_old: list[IntervalEnergy]


def site_quarter_hour(
    state: SiteLoadState,
    intervals: Sequence[IntervalEnergy],
    config: QuarterHourConfig,
    as_of: datetime,
) -> SiteLoadStep:
    """Fold a batch of final meter intervals into the site's quarter-hour loads.

    ``intervals`` are ``[start, start + 15 min)`` figures of this site's meters (from
    ``add_readings``), in emission order; a later figure of the same meter and interval
    replaces the earlier. Emits one ``QuarterHourLoad`` per interval the batch touched, with
    the next revision (0 the first time), ordered by interval start; ``computed_by`` from
    ``config``, ``as_of`` as given. Raises ``ValueError`` for an interval that is not final
    (not a settlement figure yet: a caller's bug).
    """
    too_old: list[IntervalEnergy] = []
    touched: set[int] = set()
    floor = state.floor_ms
    held = state.intervals
    for iv in intervals:
        if not iv.final:
            raise ValueError(f"interval {iv.meter_key} {iv.start} is not final; only final ones")
        s = to_epoch_ms(iv.start)
        if floor is not None and s < floor:
            too_old.append(iv)
            continue
        meters = held.get(s)
        if meters is None:
            meters = held[s] = {}
        meters[iv.meter_key] = (iv.wh, iv.completeness, iv.estimated)
        touched.add(s)
    loads = [_load(state, s, config, as_of) for s in sorted(touched)]
    return SiteLoadStep(state, loads, too_old)


def _load(
    state: SiteLoadState, s: int, config: QuarterHourConfig, as_of: datetime
) -> QuarterHourLoad:
    meters = state.intervals[s]
    with_evse_meters = {st for (st, ev, _) in meters if ev != 0}
    # (station, evse, direction) -> (completeness, preference, wh, estimated) of the series
    # counted: highest completeness, then lowest preference (a total order: order-free)
    chosen: dict[tuple[str, int | None, int], tuple[float, int, float, bool]] = {}
    for (station, evse, series), (wh, c, e) in meters.items():
        if evse == 0 and station in with_evse_meters:
            continue
        kind = SERIES.get(series)
        if kind is None:
            continue
        direction, preference = kind
        key = (station, evse, direction)
        held = chosen.get(key)
        if held is None or c > held[0] or (c == held[0] and preference < held[1]):
            chosen[key] = (c, preference, wh, e)
    imported: list[float] = []
    exported: list[float] = []
    counted: set[tuple[str, int | None]] = set()
    completeness = 1.0
    estimated = False
    for (station, evse, direction), (c, _, wh, e) in chosen.items():
        (exported if direction else imported).append(wh)
        counted.add((station, evse))
        if c < completeness:
            completeness = c
        estimated = estimated or e
    previous = state.revisions.get(s)
    revision = 0 if previous is None else previous + 1
    state.revisions[s] = revision
    import_wh = math.fsum(imported)
    export_wh = math.fsum(exported)
    return QuarterHourLoad(
        site_id=state.site_id,
        interval_start=from_epoch_ms(s),
        import_wh=import_wh,
        export_wh=export_wh,
        avg_import_w=import_wh / QUARTER_HOUR_H,
        avg_export_w=export_wh / QUARTER_HOUR_H,
        meters=len(counted),
        completeness=completeness,
        estimated=estimated,
        revision=revision,
        computed_by=config.computed_by,
        as_of=as_of,
    )
