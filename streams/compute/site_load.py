"""A site's quarter-hour load: its meters netted on a grid of steps (DOMAIN.md, Intervals).

Meters of one site finish an interval ``[start, start + 15 min)`` at different moments, so
the site keeps, per interval still open to revision, the latest figures of each meter, and
re-emits the site's ``QuarterHourLoad`` with ``revision + 1`` whenever one of them arrives
or changes: the latest revision is always the figure over every meter heard so far.

Rules:

- One series per meter and direction: a meter that reports the same energy in several
  series (a register and ``*.Interval`` energy; periodic and clock-aligned intervals; power
  where some samples lack energy) counts the one with the highest completeness for the
  interval; on a tie, the register, then periodic intervals, then clock-aligned ones, then
  integrated power (``meter_registers.SERIES``). Never two, so nothing is counted twice.
- A station's main meter (``evse_id`` 0) measures what its EVSEs measure (plus the
  station's own use). It stands for them in an interval where it covers more of it than
  they do (its lowest completeness above theirs), or where it measured the interval (not
  estimated) and any of theirs is estimated; otherwise the EVSE meters count. Never both.
  A meter whose EVSE is unknown (keyed by its transaction) is an EVSE meter.
- Netting: the grid connection sees the sum of its meters at each instant, so the counted
  meters' profiles (energy per step of ``grid_step``, one minute by default) are netted
  per step, import minus export; ``import_wh`` sums the positive steps, ``export_wh`` the
  negative ones. One EVSE charging 10 kW while another discharges 10 kW is 0 kW at the
  connection. Where no counted meter exported (or none imported), netting changes
  nothing and the sums are the meters' own (``math.fsum``, exact and order-free).
- ``meters``: the (station, EVSE) meters counted. ``completeness``: the lowest of the
  counted series' completeness (a meter with no coverage may hide any amount of energy,
  so the site figure is only as complete as its least covered meter). ``estimated``: any
  counted series is estimated.
- Beside the site figure, each meter's own gross figure: an ``EvseQuarterHourLoad`` (its
  chosen import and export series, and whether it counted in the site load), emitted when
  it changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from gridstream.errors import StateError
from gridstream.periods import QUARTER_HOUR_H, from_epoch_ms, to_epoch_ms
from gridstream.records import EvseQuarterHourLoad, QuarterHourLoad
from streams.compute.meter_registers import EXPORT, IMPORT, SERIES
from streams.compute.quarter_hour import IntervalEnergy, MeterKey, Profile, QuarterHourConfig

# One meter series' latest figures for an interval: (wh, completeness, estimated, profile).
_Figures = tuple[float, float, bool, Profile | None]
# A physical meter: (station_id, evse_id, transaction_id).
_Meter = tuple[str, int | None, str | None]
# A chosen series: (completeness, preference, wh, estimated, profile).
_Chosen = tuple[float, int, float, bool, Profile | None]
# What an EVSE record last said: (revision, import_wh, export_wh, completeness, estimated,
# counted).
_EvseEmitted = tuple[int, float, float, float, bool, bool]


class SiteLoadState:
    """Per-site state: per interval start (epoch ms), each meter's latest figures.

    ``floor_ms``: intervals starting before it are no longer held (see ``forget_before_ms``).
    ``site_quarter_hour`` updates the state in place and returns it.
    """

    __slots__ = ("evse_emitted", "floor_ms", "intervals", "revisions", "site_id")

    VERSION = 2

    def __init__(self, site_id: str) -> None:
        """An empty state for ``site_id``."""
        self.site_id = site_id
        self.intervals: dict[int, dict[MeterKey, _Figures]] = {}
        self.revisions: dict[int, int] = {}
        self.evse_emitted: dict[int, dict[_Meter, _EvseEmitted]] = {}
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
            self.evse_emitted.pop(s, None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot.

        ``{"version", "site_id", "floor_ms", "intervals": [[start_ms, revision, [[station,
        evse, transaction, series, wh, completeness, estimated, profile], ...], [[station,
        evse, transaction, revision, import_wh, export_wh, completeness, estimated,
        counted], ...]], ...]}``.
        """
        return {
            "version": self.VERSION,
            "site_id": self.site_id,
            "floor_ms": self.floor_ms,
            "intervals": [
                [
                    s,
                    self.revisions[s],
                    [
                        [*k, w, c, e, None if p is None else list(p)]
                        for k, (w, c, e, p) in meters.items()
                    ],
                    [[*m, *f] for m, f in self.evse_emitted.get(s, {}).items()],
                ]
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
        for s, revision, meters, evses in data["intervals"]:
            state.revisions[s] = revision
            state.intervals[s] = {
                (st, ev, tx, m): (float(w), float(c), bool(e), None if p is None else tuple(p))
                for st, ev, tx, m, w, c, e, p in meters
            }
            if evses:
                state.evse_emitted[s] = {
                    (st, ev, tx): (int(r), float(i), float(x), float(c), bool(e), bool(n))
                    for st, ev, tx, r, i, x, c, e, n in evses
                }
        return state


class SiteLoadStep(NamedTuple):
    """What ``site_quarter_hour`` returns.

    ``evse_loads``: the per-meter gross figures that changed. ``too_old``: meter intervals
    starting before the state's floor, not folded in.
    """

    state: SiteLoadState
    loads: list[QuarterHourLoad]
    too_old: list[IntervalEnergy]
    evse_loads: list[EvseQuarterHourLoad] = []


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
    the next revision (0 the first time), ordered by interval start, and the meters' gross
    figures that changed; ``computed_by`` from ``config``, ``as_of`` as given. Raises
    ``ValueError`` for an interval that is not final (not a settlement figure yet: a
    caller's bug).
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
        meters[iv.meter_key] = (iv.wh, iv.completeness, iv.estimated, iv.profile)
        touched.add(s)
    loads: list[QuarterHourLoad] = []
    evse_loads: list[EvseQuarterHourLoad] = []
    for s in sorted(touched):
        load, evses = _load(state, s, config, as_of)
        loads.append(load)
        evse_loads.extend(evses)
    return SiteLoadStep(state, loads, too_old, evse_loads)


def _choose(meters: dict[MeterKey, _Figures]) -> dict[_Meter, list[_Chosen | None]]:
    """Per physical meter, the series counted in each direction.

    Highest completeness, then preference: a total order, so the choice does not depend on
    arrival order.
    """
    chosen: dict[_Meter, list[_Chosen | None]] = {}
    for (station, evse, transaction, series), (wh, c, e, profile) in meters.items():
        kind = SERIES.get(series)
        if kind is None:
            continue
        direction, preference = kind
        meter = (station, evse, transaction)
        pair = chosen.get(meter)
        if pair is None:
            pair = chosen[meter] = [None, None]
        held = pair[direction]
        if held is None or c > held[0] or (c == held[0] and preference < held[1]):
            pair[direction] = (c, preference, wh, e, profile)
    return chosen


def _coverage(figures: Sequence[list[_Chosen | None]]) -> tuple[float, bool]:
    """The lowest completeness and whether any is estimated, over meters' chosen series."""
    lowest = 1.0
    estimated = False
    for pair in figures:
        for fig in pair:
            if fig is not None:
                lowest = min(lowest, fig[0])
                estimated = estimated or fig[3]
    return lowest, estimated


def _counted(chosen: dict[_Meter, list[_Chosen | None]]) -> set[_Meter]:
    """The meters that count in the site load: a main meter or its EVSEs, per station."""
    mains: dict[str, _Meter] = {}
    evses: dict[str, list[_Meter]] = {}
    for meter in chosen:
        if meter[1] == 0:
            mains[meter[0]] = meter
        else:
            evses.setdefault(meter[0], []).append(meter)
    counted = {m for group in evses.values() for m in group}
    for station, main in mains.items():
        group = evses.get(station)
        if not group:
            counted.add(main)
            continue
        main_c, main_e = _coverage([chosen[main]])
        evse_c, evse_e = _coverage([chosen[m] for m in group])
        if main_c > evse_c or (main_c >= 1.0 and not main_e and evse_e):
            counted.add(main)
            counted.difference_update(group)
    return counted


def _netted(imports: list[_Chosen], exports: list[_Chosen]) -> tuple[float, float]:
    """Site import and export (Wh): the sums, netted per grid step where both flow."""
    import_wh = math.fsum(f[2] for f in imports)
    export_wh = math.fsum(f[2] for f in exports)
    if not (import_wh > 0 and export_wh > 0):
        return import_wh, export_wh
    steps: list[float] | None = None
    for sign, figures in ((1.0, imports), (-1.0, exports)):
        for fig in figures:
            profile = fig[4]
            if profile is None:
                if fig[2]:  # energy without a profile (not from add_readings): cannot net
                    return import_wh, export_wh
                continue
            if steps is None:
                steps = [0.0] * len(profile)
            for k, wh in enumerate(profile):
                steps[k] += sign * wh
    if steps is None:
        return import_wh, export_wh
    return (
        math.fsum(x for x in steps if x > 0),
        math.fsum(-x for x in steps if x < 0),
    )


def _load(
    state: SiteLoadState, s: int, config: QuarterHourConfig, as_of: datetime
) -> tuple[QuarterHourLoad, list[EvseQuarterHourLoad]]:
    chosen = _choose(state.intervals[s])
    counted = _counted(chosen)
    imports: list[_Chosen] = []
    exports: list[_Chosen] = []
    completeness, estimated = _coverage([chosen[m] for m in counted])
    for meter in counted:
        imported, exported = chosen[meter][IMPORT], chosen[meter][EXPORT]
        if imported is not None:
            imports.append(imported)
        if exported is not None:
            exports.append(exported)
    import_wh, export_wh = _netted(imports, exports)
    previous = state.revisions.get(s)
    revision = 0 if previous is None else previous + 1
    state.revisions[s] = revision
    start = from_epoch_ms(s)
    load = QuarterHourLoad(
        site_id=state.site_id,
        interval_start=start,
        import_wh=import_wh,
        export_wh=export_wh,
        avg_import_w=import_wh / QUARTER_HOUR_H,
        avg_export_w=export_wh / QUARTER_HOUR_H,
        meters=len({(m[0], m[1]) for m in counted}),
        completeness=completeness if counted else 0.0,
        estimated=estimated,
        revision=revision,
        computed_by=config.computed_by,
        as_of=as_of,
    )
    return load, _evse_loads(state, s, start, chosen, counted, config, as_of)


def _evse_loads(
    state: SiteLoadState,
    s: int,
    start: datetime,
    chosen: dict[_Meter, list[_Chosen | None]],
    counted: set[_Meter],
    config: QuarterHourConfig,
    as_of: datetime,
) -> list[EvseQuarterHourLoad]:
    emitted = state.evse_emitted.get(s)
    if emitted is None:
        emitted = state.evse_emitted[s] = {}
    out: list[EvseQuarterHourLoad] = []
    for meter in sorted(chosen, key=_meter_order):
        imported, exported = chosen[meter]
        import_wh = imported[2] if imported is not None else 0.0
        export_wh = exported[2] if exported is not None else 0.0
        completeness, estimated = _coverage([chosen[meter]])
        figures = (import_wh, export_wh, completeness, estimated, meter in counted)
        previous = emitted.get(meter)
        if previous is not None and previous[1:] == figures:
            continue
        revision = 0 if previous is None else previous[0] + 1
        emitted[meter] = (revision, *figures)
        out.append(
            EvseQuarterHourLoad(
                site_id=state.site_id,
                station_id=meter[0],
                evse_id=meter[1],
                transaction_id=meter[2],
                interval_start=start,
                import_wh=import_wh,
                export_wh=export_wh,
                avg_import_w=import_wh / QUARTER_HOUR_H,
                avg_export_w=export_wh / QUARTER_HOUR_H,
                completeness=completeness,
                estimated=estimated,
                in_site_load=meter in counted,
                revision=revision,
                computed_by=config.computed_by,
                as_of=as_of,
            )
        )
    return out


def _meter_order(meter: _Meter) -> tuple[str, int, str]:
    return (meter[0], -1 if meter[1] is None else meter[1], meter[2] or "")
