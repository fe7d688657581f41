"""Quarter-hour energy of one meter series (DOMAIN.md, Intervals and energy).

Intervals are the settlement periods ``[start, start + 15 min)``, UTC, aligned on the hour and
keyed by their start. The rules, applied alike by the streaming step (``add_readings``) and
the batch path (``energy_of_intervals``), so that the latest revision of every interval the
stream emitted equals the batch over the same readings, to the bit:

- Energy of ``[s, e)`` is ``R(e) - R(s)``, ``R`` the register linearly interpolated between
  the last reading at or before ``t`` and the first at or after ``t`` (``register_at``).
  Computed as the sum, over consecutive readings ``(a, b)``, of the pair's energy
  ``b.wh - a.wh`` times the share of ``[a.ts, b.ts]`` that lies in ``[s, e)``: the same
  figure within a segment.
- An interval series (``gridstream.registers.INTERVAL_SERIES``: a meter that reports
  ``Energy.Active.*.Interval``, the energy of the sampling interval that ends at the
  reading, OCPP 1.6 errata 3.77) has no register; its readings are increments. The energy
  of a reading belongs to ``(previous reading, this reading]`` of the same series, so the
  pair's energy is ``b.wh`` itself and is spread over ``[a.ts, b.ts]`` exactly as a
  register pair is: the readings' running sum is the register, without summing (so that
  the stream and the batch agree to the bit whatever the arrival order). The first
  reading of a series has no known start (the station's sampling interval is not sent):
  it only starts the series, and its energy is not counted; the quarter-hour it falls in
  is covered from that reading on, so its completeness shows what is missing.
- A register that goes down is a reset or a new meter: the pair across the drop counts no
  energy and covers nothing; the new segment counts from its first reading. A utility meter
  exchange does the same (final reading of the old meter, initial reading of the new one,
  nothing in between), and counting the new register from 0 would turn a replacement meter
  whose register starts at, say, 12,000 Wh into a false 48 kW peak. A negative interval
  reading is the same: no energy, no coverage.
- A pair whose energy is more than ``max_power_w`` (default 5 MW) could deliver over its
  gap (counted as at least a second, for coarse kWh registers) is a jump no meter makes: a
  misread register (1.6 stations send ``"0.00"`` when they cannot read the meter, and the
  pair after it would count the whole register), a new meter whose register starts higher,
  or a register sent as an interval. It counts no energy and covers nothing, like a reset.
- Completeness is the share of ``[s, e)`` covered by consecutive readings at most
  ``max_gap`` apart. Over a longer gap the energy is spread evenly (linear interpolation
  does that) and the interval is flagged ``estimated``. Exception, because a register never
  runs backwards: a gap over which the register did not move holds exactly zero energy in
  every part of it, so it counts as covered and not estimated (idle stations often report
  rarely; flagging every idle quarter-hour would make completeness useless).
  Time before the first reading, after the last, and across a reset is not covered and
  counts no energy; it lowers completeness without setting ``estimated``.
- An interval is final once a reading at or after its end has arrived; only final
  intervals are emitted by the stream. A meter's intervals are those that overlap the span
  of its readings.
- Two readings at the same instant (and the same series) are one reading: the higher
  value is kept (a register only rises, and the rule does not depend on arrival order).
  So a sample sent twice (a re-sent offline batch) adds no energy the second time, for
  registers and intervals alike.
- A reading older than the meter's newest reading minus ``allowed_lateness`` is too late:
  returned, not applied. A later one revises the intervals it changes, each re-emitted with
  ``revision + 1`` (revision 0 is the first emission). A reading that changes nothing (an
  exact duplicate, or a lower value at an instant already held) is counted as a duplicate.

Integer epoch milliseconds (``_ms``) are used inside; the public API takes aware UTC
datetimes.

Departures from DOMAIN.md: ``*.Interval`` energy is used (above; ``site_load`` counts
the best-covered series of a meter; DOMAIN.md and DESIGN.md take quarter-hour energy from
registers only), and the ``max_power_w`` bound on a pair is not in DOMAIN.md (which knows
only the downward reset).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from gridstream.errors import ConfigError, StateError
from gridstream.periods import from_epoch_ms, quarter_hours, to_epoch_ms
from gridstream.registers import INTERVAL_SERIES
from gridstream.settings import Settings

MeterKey = tuple[str, int | None, str]
"""A meter series: (station_id, evse_id, series), the series as in ``gridstream.registers``."""

MAX_METER_POWER_W = 5_000_000.0
"""Default ``max_power_w``: above what any one charging point draws (MCS, the megawatt
charging standard, tops out at 3.75 MW); a pair implying more is a jump, not energy."""

# A pair's energy bound is taken over at least this long a gap, so that a coarse register
# (whole kWh) stepping between two readings a moment apart still counts.
_MIN_BOUND_GAP_MS = 1_000

QH_MS = 900_000
"""A settlement period in epoch milliseconds."""

_ONE_MS = timedelta(milliseconds=1)

# An emitted interval as kept in the state: (revision, wh, completeness, estimated).
_Emitted = tuple[int, float, float, bool]


@dataclass(frozen=True, slots=True)
class QuarterHourConfig:
    """Parameters of the quarter-hour computation (not state: they may change between runs).

    ``max_gap``: readings further apart make an interval estimated. ``allowed_lateness``: how
    far behind a meter's newest reading a reading may be and still revise its intervals.
    ``max_power_w``: a pair of readings implying a higher average power is a jump, not
    energy.
    """

    max_gap: timedelta
    allowed_lateness: timedelta
    computed_by: str = "quarter_hour/2"
    max_power_w: float = MAX_METER_POWER_W
    max_gap_ms: int = field(init=False, repr=False, compare=False)
    allowed_lateness_ms: int = field(init=False, repr=False, compare=False)
    max_wh_per_ms: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the durations and derive their millisecond forms for the hot loop."""
        if self.max_gap <= timedelta(0):
            raise ConfigError(
                f"max_gap must be positive (GRIDSTREAM_MAX_GAP_S), got {self.max_gap}"
            )
        if self.allowed_lateness < timedelta(0):
            raise ConfigError(
                "allowed_lateness must not be negative (GRIDSTREAM_ALLOWED_LATENESS_S), "
                f"got {self.allowed_lateness}"
            )
        if not self.max_power_w > 0:
            raise ConfigError(f"max_power_w must be positive, got {self.max_power_w}")
        object.__setattr__(self, "max_gap_ms", self.max_gap // _ONE_MS)
        object.__setattr__(self, "allowed_lateness_ms", self.allowed_lateness // _ONE_MS)
        object.__setattr__(self, "max_wh_per_ms", self.max_power_w / 3_600_000)

    @classmethod
    def from_settings(cls, settings: Settings) -> QuarterHourConfig:
        """Build from ``GRIDSTREAM_MAX_GAP_S`` and ``GRIDSTREAM_ALLOWED_LATENESS_S``."""
        return cls(
            max_gap=timedelta(seconds=settings.max_gap_s),
            allowed_lateness=timedelta(seconds=settings.allowed_lateness_s),
        )


@dataclass(frozen=True, slots=True)
class RegisterPoint:
    """One reading of one meter series: aware UTC ``ts``, ``wh`` in Wh.

    ``wh`` is the register at ``ts``, or for an interval series the energy of the interval
    that ends at ``ts``.
    """

    ts: datetime
    wh: float

    def __post_init__(self) -> None:
        """Refuse naive timestamps: their instant is ambiguous."""
        if self.ts.tzinfo is None:
            raise ValueError(f"RegisterPoint.ts must be aware (UTC), got naive {self.ts}")


@dataclass(frozen=True, slots=True)
class IntervalEnergy:
    """Energy of one meter series over ``[start, start + 15 min)``.

    ``wh`` in Wh; ``completeness`` 0..1; ``estimated`` when energy was spread over a gap
    longer than ``max_gap``; ``final`` once a reading at or after the end exists;
    ``revision`` 0 at first emission, +1 at each re-emission.
    """

    meter_key: MeterKey
    start: datetime
    wh: float
    completeness: float
    estimated: bool
    final: bool
    revision: int


class RegisterState:
    """Per-meter state of the streaming step; small, plain, snapshot with ``to_dict``.

    Holds the readings that a reading still acceptable could need (those within the allowed
    lateness of the newest, plus what interpolating their intervals needs) and the last
    figures emitted for every interval that can still change. ``add_readings`` updates it
    in place and returns it.
    """

    __slots__ = ("emitted", "floor_ms", "increments", "meter_key", "ts_ms", "wh")

    VERSION = 1

    def __init__(self, meter_key: MeterKey) -> None:
        """An empty state for ``meter_key`` (station_id, evse_id, series)."""
        self.meter_key: MeterKey = meter_key
        #: An interval series: ``wh`` holds each reading's own energy, not a register.
        self.increments = meter_key[2] in INTERVAL_SERIES
        self.ts_ms: list[int] = []
        self.wh: list[float] = []
        self.emitted: dict[int, _Emitted] = {}
        #: ``revisable_from_ms`` as of the last clean-up (at most that: never later).
        self.floor_ms: int | None = None

    @property
    def newest_ms(self) -> int | None:
        """Epoch ms of the newest reading accepted, or None before the first."""
        return self.ts_ms[-1] if self.ts_ms else None

    def revisable_from_ms(self, config: QuarterHourConfig) -> int | None:
        """Start (epoch ms) of the earliest interval a reading still acceptable could change.

        None while the state is empty (the first reading may land anywhere).
        """
        ts = self.ts_ms
        if not ts:
            return None
        cutoff = ts[-1] - config.allowed_lateness_ms
        i = bisect_left(ts, cutoff) - 1
        # A new reading t >= cutoff changes the pairs around it, from the reading before it.
        anchor = ts[i] if i >= 0 else cutoff
        return anchor - anchor % QH_MS

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot.

        ``{"version", "meter_key", "ts_ms", "wh", "emitted", "floor_ms"}``; ``emitted`` lists
        ``[start_ms, revision, wh, completeness, estimated]``.
        """
        return {
            "version": self.VERSION,
            "meter_key": list(self.meter_key),
            "ts_ms": list(self.ts_ms),
            "wh": list(self.wh),
            "emitted": [[s, *v] for s, v in self.emitted.items()],
            "floor_ms": self.floor_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegisterState:
        """Restore a ``to_dict`` snapshot; ``StateError`` for an unknown version."""
        version = data.get("version")
        if version != cls.VERSION:
            raise StateError(
                f"RegisterState snapshot version {version!r} is not supported "
                f"(expected {cls.VERSION}); rebuild the state by replaying its meter's readings"
            )
        station, evse, measurand = data["meter_key"]
        state = cls((station, evse, measurand))
        state.ts_ms = [int(t) for t in data["ts_ms"]]
        state.wh = [float(w) for w in data["wh"]]
        state.emitted = {
            int(s): (int(r), float(w), float(c), bool(e)) for s, r, w, c, e in data["emitted"]
        }
        state.floor_ms = data["floor_ms"]
        return state


class RegisterStep(NamedTuple):
    """What ``add_readings`` returns."""

    state: RegisterState
    intervals: list[IntervalEnergy]
    too_late: list[RegisterPoint]
    duplicates: int


def interval_figures_ms(
    ts_ms: Sequence[int],
    wh: Sequence[float],
    start_ms: int,
    max_gap_ms: int,
    max_wh_per_ms: float = math.inf,
    increments: bool = False,
) -> tuple[float, float, bool]:
    """Energy (Wh), completeness (0..1) and estimated flag of ``[start_ms, start_ms + 15 min)``.

    ``ts_ms`` sorted and unique, ``wh`` the register at each (``increments``: the energy of
    the interval ending at each). ``max_wh_per_ms``: a pair with more energy per ms of its
    gap is a jump. Hot-path core of both paths.
    """
    end_ms = start_ms + QH_MS
    n = len(ts_ms)
    i = bisect_right(ts_ms, start_ms) - 1
    if i < 0:
        i = 0
    energy = 0.0
    covered_ms = 0
    estimated = False
    # a pair with no more than this is never a jump (the bound's one-second minimum), so
    # the usual pair skips the multiplication
    always_wh = max_wh_per_ms * _MIN_BOUND_GAP_MS
    while i + 1 < n:
        a = ts_ms[i]
        if a >= end_ms:
            break
        b = ts_ms[i + 1]
        d = wh[i + 1] if increments else wh[i + 1] - wh[i]
        gap = b - a
        # d < 0 (a reset) or over the bound (a jump): no energy and no coverage
        if b > start_ms and 0 <= d and (d <= always_wh or d <= max_wh_per_ms * gap):
            lo = a if a > start_ms else start_ms
            hi = b if b < end_ms else end_ms
            if hi - lo == gap:
                energy += d
            else:
                energy += d * (hi - lo) / gap
            if gap <= max_gap_ms or d == 0:
                covered_ms += hi - lo
            else:
                estimated = True
        i += 1
    return energy, covered_ms / QH_MS, estimated


def add_readings_ms(
    state: RegisterState,
    ts_ms: Sequence[int],
    wh: Sequence[float],
    config: QuarterHourConfig,
    not_before_ms: int | None = None,
) -> tuple[list[IntervalEnergy], list[int], int]:
    """Streaming step over epoch-ms readings, in arrival order; updates ``state`` in place.

    Returns the intervals that became final or changed (ordered by start), the indices of
    the readings that were too late, and the number of duplicates. ``add_readings`` is the
    same with datetimes. ``not_before_ms``: readings before it are too late whatever the
    meter's own newest reading (the site passes the oldest interval start it still holds).
    """
    ts = state.ts_ms
    values = state.wh
    lateness_ms = config.allowed_lateness_ms
    too_late: list[int] = []
    duplicates = 0
    changed: list[int] = []  # readings inserted or raised out of order
    append_from: int | None = None  # the reading before the first one appended, or that one
    newest = ts[-1] if ts else None
    for k, t in enumerate(ts_ms):
        v = wh[k]
        if not_before_ms is not None and t < not_before_ms:
            too_late.append(k)
            continue
        if newest is None or t > newest:
            if append_from is None:
                append_from = t if newest is None else newest
            ts.append(t)
            values.append(v)
            newest = t
            continue
        if t < newest - lateness_ms:
            too_late.append(k)
            continue
        i = bisect_left(ts, t)
        if ts[i] == t:
            if v > values[i]:
                values[i] = v
                changed.append(t)
            else:
                duplicates += 1
            continue
        ts.insert(i, t)
        values.insert(i, v)
        changed.append(t)
    if not changed and append_from is None:
        return [], too_late, duplicates
    return _emit(state, changed, append_from, config), too_late, duplicates


def _emit(
    state: RegisterState, changed: Iterable[int], append_from: int | None, config: QuarterHourConfig
) -> list[IntervalEnergy]:
    """Recompute the final intervals the changed readings touch; emit those that differ."""
    ts = state.ts_ms
    values = state.wh
    n = len(ts)
    last_final_start = ts[-1] - QH_MS  # [s, s + 15 min) is final when s + 15 min <= newest
    starts: set[int] = set()
    if append_from is not None:  # readings appended in order touch all from the one before
        s = append_from - append_from % QH_MS
        while s <= last_final_start:
            starts.add(s)
            s += QH_MS
    for t in changed:  # one inserted or raised changes the pairs on either side of it
        i = bisect_left(ts, t)
        lo = ts[i - 1] if i > 0 else t
        hi = ts[i + 1] if i + 1 < n else t
        s = lo - lo % QH_MS
        stop = hi if hi < last_final_start else last_final_start
        while s <= stop:
            starts.add(s)
            s += QH_MS
    if not starts:
        if state.floor_ms is None:
            _forget(state, config)
        return []
    out: list[IntervalEnergy] = []
    emitted = state.emitted
    for s in sorted(starts):
        energy, completeness, estimated = interval_figures_ms(
            ts, values, s, config.max_gap_ms, config.max_wh_per_ms, state.increments
        )
        previous = emitted.get(s)
        if previous is None:
            revision = 0
        elif previous[1:] == (energy, completeness, estimated):
            continue
        else:
            revision = previous[0] + 1
        emitted[s] = (revision, energy, completeness, estimated)
        out.append(
            IntervalEnergy(
                state.meter_key, from_epoch_ms(s), energy, completeness, estimated, True, revision
            )
        )
    _forget(state, config)
    return out


def _forget(state: RegisterState, config: QuarterHourConfig) -> None:
    """Drop readings and emitted figures that no acceptable reading can need again.

    Runs when an interval was recomputed (or on the first reading): the floor moves in
    quarter-hour steps, and keeping a few readings longer costs nothing.
    """
    floor = state.revisable_from_ms(config)
    if floor is None or floor == state.floor_ms:
        return
    state.floor_ms = floor
    ts = state.ts_ms
    j = bisect_right(ts, floor) - 1  # the reading interpolation at `floor` starts from
    if j > 0:
        del ts[:j]
        del state.wh[:j]
    emitted = state.emitted
    if emitted:
        for s in [s for s in emitted if s < floor]:
            del emitted[s]


def add_readings(
    state: RegisterState, points: Sequence[RegisterPoint], config: QuarterHourConfig
) -> RegisterStep:
    """Apply a batch of one meter's readings, in arrival order (the streaming step).

    Updates ``state`` in place and returns it with the intervals ``[start, start + 15 min)``
    that became final or changed (each with its next revision), the readings that were too
    late (older than the newest reading minus ``allowed_lateness``: route them to ``dlq``
    with reason ``too_late``), and the number of duplicates (readings that changed nothing).

    >>> from datetime import UTC
    >>> config = QuarterHourConfig(timedelta(minutes=15), timedelta(hours=1))
    >>> state = RegisterState(("CS1", 1, "Energy.Active.Import.Register"))
    >>> at = lambda hh, mm, ss=0: datetime(2026, 1, 15, hh, mm, ss, tzinfo=UTC)
    >>> step = add_readings(state, [RegisterPoint(at(10, 7, 30), 1000.0),
    ...                             RegisterPoint(at(10, 22, 30), 1300.0)], config)
    >>> [(i.start.strftime("%H:%M"), i.wh, i.completeness) for i in step.intervals]
    [('10:00', 150.0, 0.5)]
    """
    ts_ms = [to_epoch_ms(p.ts) for p in points]
    wh = [p.wh for p in points]
    intervals, late, duplicates = add_readings_ms(state, ts_ms, wh, config)
    return RegisterStep(state, intervals, [points[k] for k in late], duplicates)


def _sorted_unique(points: Iterable[RegisterPoint]) -> tuple[list[int], list[float]]:
    best: dict[int, float] = {}
    for p in points:
        t = to_epoch_ms(p.ts)
        w = best.get(t)
        if w is None or p.wh > w:
            best[t] = p.wh
    ts = sorted(best)
    return ts, [best[t] for t in ts]


def register_at(points: Iterable[RegisterPoint], t: datetime) -> float | None:
    """R(t): the register at ``t``, interpolated linearly between its neighbouring readings.

    The neighbours are the last reading at or before ``t`` and the first at or after it.
    None when ``t`` lies before the first reading, after the last, or across a reset.
    Readings need not be sorted; at one instant the higher value counts. For register
    series only: an interval series has no register to read.

    >>> from datetime import UTC
    >>> at = lambda hh, mm, ss=0: datetime(2026, 1, 15, hh, mm, ss, tzinfo=UTC)
    >>> register_at([RegisterPoint(at(10, 7, 30), 1000.0),
    ...              RegisterPoint(at(10, 22, 30), 1300.0)], at(10, 15))
    1150.0
    """
    ts, wh = _sorted_unique(points)
    t_ms = to_epoch_ms(t)
    i = bisect_right(ts, t_ms) - 1
    if i < 0:
        return None
    if ts[i] == t_ms:
        return wh[i]
    if i + 1 >= len(ts) or wh[i + 1] < wh[i]:
        return None
    return wh[i] + (wh[i + 1] - wh[i]) * (t_ms - ts[i]) / (ts[i + 1] - ts[i])


def energy_of_intervals(
    points: Iterable[RegisterPoint],
    start: datetime,
    end: datetime,
    config: QuarterHourConfig,
    *,
    meter_key: MeterKey,
) -> list[IntervalEnergy]:
    """The batch path: one meter's intervals overlapping ``[start, end)`` from its full history.

    Same rules as ``add_readings`` (see the module docstring), revision 0; ``meter_key``'s
    series says whether the points are a register or intervals. Returns every interval that
    overlaps the span of the readings, ordered by start; those without a reading at or
    after their end carry ``final=False`` (the stream has not emitted them).
    """
    ts, wh = _sorted_unique(points)
    if not ts:
        return []
    increments = meter_key[2] in INTERVAL_SERIES
    max_wh_per_ms = config.max_wh_per_ms
    first, last = ts[0], ts[-1]
    out: list[IntervalEnergy] = []
    for qh in quarter_hours(start, end):
        s = to_epoch_ms(qh)
        if s + QH_MS <= first or s >= last:
            continue
        energy, completeness, estimated = interval_figures_ms(
            ts, wh, s, config.max_gap_ms, max_wh_per_ms, increments
        )
        out.append(
            IntervalEnergy(meter_key, qh, energy, completeness, estimated, s + QH_MS <= last, 0)
        )
    return out
