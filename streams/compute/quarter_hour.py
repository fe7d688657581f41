"""Quarter-hour energy of one meter series (DOMAIN.md, Intervals and energy).

Intervals are the settlement periods ``[start, start + 15 min)``, UTC, aligned on the hour and
keyed by their start. The rules, applied alike by the streaming step (``add_readings``) and
the batch path (``energy_of_intervals``), so that the latest revision of every interval the
stream emitted equals the batch over the same readings, to the bit:

- A series is one of three kinds (``SeriesKind``). A *register* (``*.Register``) is
  cumulative: the energy of ``[s, e)`` is ``R(e) - R(s)``, ``R`` the register linearly
  interpolated between the last reading at or before ``t`` and the first at or after it,
  computed as the sum over consecutive readings ``(a, b)`` of the pair's energy
  ``b.wh - a.wh`` times the share of ``[a.ts, b.ts]`` that lies in ``[s, e)``. An
  *increments* series (``gridstream.registers.INTERVAL_SERIES``: ``*.Interval``, OCPP 1.6
  errata 3.77) holds the energy of ``(previous reading, this reading]`` in each reading: the
  pair's energy is ``b.wh``, spread as a register pair's is; the first reading only starts
  the series. A *power* series (``Power.Active.*`` of a meter that reports no energy in that
  direction) holds W: the pair's energy is the trapezoid ``(a.w + b.w) / 2 x gap`` for pairs
  no further apart than ``max_gap`` (none over a longer gap), always flagged estimated.
- Outliers (registers): a reading that breaks the series when the series is consistent
  across it is dropped, and the pair straddling it counts straight across. Precisely, from
  the last good reading ``a``, the next reading ``b`` is good when the pair is *plausible*
  (the register did not go down, and it rose no more than the meter's rated power could
  deliver over the gap, at least a second, plus 1 Wh of register resolution). Otherwise,
  if one of the next ``max_outlier_run`` readings ``c`` makes ``(a, c)`` plausible, the
  readings between are outliers (a misread "0.00", a flipped digit, a meterStop "0" before
  the next day's meterStart) and ``c`` is good. Otherwise ``b`` is good and the pair
  ``(a, b)`` is a segment break: a reset or a new meter (down and stays down) or a jump (up
  beyond the bound): it counts no energy and covers nothing. The same bound applies to an
  increments pair (a register sent as an interval is a jump).
- Completeness is the share of ``[s, e)`` covered by good pairs that measure their span:
  pairs at most ``max_gap`` apart, pairs over which the register did not move (exactly zero
  in every part), and pairs lying wholly inside ``[s, e)`` (readings exactly on the
  boundaries, such as clock-aligned registers read every 15 minutes, measure the interval
  fully: their energy is not spread across a boundary). Over a longer pair that crosses a
  boundary the energy is spread evenly and the interval is flagged ``estimated``. Time
  before the first reading, after the last, and across a segment break counts no energy and
  lowers completeness without setting ``estimated``.
- ``profile``: the interval's energy per step of the netting grid (``grid_step``, one
  minute by default), spread within each pair as its energy is; the site nets its meters
  on it (``streams.compute.site_load``). None when the interval holds no energy.
- An interval is final once a reading at or after its end has arrived; only final
  intervals are emitted by the stream. A meter's intervals are those that overlap the span
  of its readings.
- Two readings at the same instant are one reading: the higher value is kept (the rule does
  not depend on arrival order), so a sample sent twice adds no energy the second time.
- A reading older than the meter's newest reading minus ``allowed_lateness`` is too late,
  unless it is a duplicate: a reading held already (with no higher value), or one before
  every reading held, inside a quarter-hour that was measured fully (complete, not
  estimated) and forgotten since, which leaves no room for a reading not seen before: a
  re-sent offline batch, counted (``resent``), not applied, not dead-lettered. A late
  reading between readings held that is not one of them (a new instant, or a higher value
  at one held) was never seen: too late, dead-lettered like any other. A measured
  quarter-hour is remembered for ``duplicate_horizon`` in one bit. A later reading revises
  the intervals it changes, each re-emitted with ``revision + 1`` (revision 0 is the first
  emission).

Integer epoch milliseconds (``_ms``) are used inside; the public API takes aware UTC
datetimes.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any, NamedTuple

from gridstream.errors import ConfigError, StateError
from gridstream.periods import QUARTER_HOUR_MS as QH_MS
from gridstream.periods import from_epoch_ms, quarter_hours, to_epoch_ms
from gridstream.registers import INTERVAL_SERIES, POWER_SERIES
from gridstream.settings import Settings

MeterKey = tuple[str, int | None, str | None, str]
"""A meter series: (station_id, evse_id, transaction_id, series), the series as in
``gridstream.registers``. ``transaction_id`` is set only when ``evse_id`` is None: a reading
whose EVSE is unknown belongs to its transaction's meter (DOMAIN.md, Meter values), so two
transactions' registers are never differenced against each other."""

MAX_METER_POWER_W = 5_000_000.0
"""Default ``max_power_w`` of the config: the bound of a meter with no rated power given."""

REGISTER_RESOLUTION_WH = 1.0
"""What a register may step beyond the rated power's energy over a pair: rounding to Wh."""

# A pair's energy bound is taken over at least this long a gap, so that a coarse register
# stepping between two readings a moment apart still counts.
_MIN_BOUND_GAP_MS = 1_000

DEFAULT_MAX_OUTLIER_RUN = 3
"""Consecutive readings that may be outliers before a drop or a jump is a segment break."""

"""A settlement period in epoch milliseconds."""

_ONE_MS = timedelta(milliseconds=1)
_WMS_PER_WH = 3_600_000.0  # W x ms in one Wh

Profile = tuple[float, ...]
"""Energy (Wh) per step of the netting grid over one quarter-hour, in time order."""

# An emitted interval as kept in the state: (revision, wh, completeness, estimated, profile).
_Emitted = tuple[int, float, float, bool, Profile | None]


class SeriesKind(IntEnum):
    """How a series' values make energy."""

    REGISTER = 0
    INCREMENTS = 1
    POWER = 2


def kind_of(series: str) -> SeriesKind:
    """The kind of a series name (``gridstream.registers``)."""
    if series in INTERVAL_SERIES:
        return SeriesKind.INCREMENTS
    if series in POWER_SERIES:
        return SeriesKind.POWER
    return SeriesKind.REGISTER


@dataclass(frozen=True, slots=True)
class QuarterHourConfig:
    """Parameters of the quarter-hour computation (not state: they may change between runs).

    ``max_gap``: readings further apart make an interval estimated. ``allowed_lateness``: how
    far behind a meter's newest reading a reading may be and still revise its intervals.
    ``max_power_w``: the bound of a meter whose rated power is not known (the state's own
    ``max_power_w`` wins). ``grid_step``: the netting grid, a divisor of 15 minutes.
    ``max_outlier_run``: how many consecutive readings may be outliers before a drop is a
    reset. ``duplicate_horizon``: how long a measured quarter-hour is remembered, so that a
    re-sent reading older than the allowed lateness is counted as a duplicate.
    """

    max_gap: timedelta
    allowed_lateness: timedelta
    computed_by: str = "quarter_hour/3"
    max_power_w: float = MAX_METER_POWER_W
    grid_step: timedelta = timedelta(minutes=1)
    max_outlier_run: int = DEFAULT_MAX_OUTLIER_RUN
    duplicate_horizon: timedelta = timedelta(days=7)
    max_gap_ms: int = field(init=False, repr=False, compare=False)
    allowed_lateness_ms: int = field(init=False, repr=False, compare=False)
    max_wh_per_ms: float = field(init=False, repr=False, compare=False)
    grid_step_ms: int = field(init=False, repr=False, compare=False)
    duplicate_horizon_ms: int = field(init=False, repr=False, compare=False)

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
        step_ms = self.grid_step // _ONE_MS
        if step_ms <= 0 or QH_MS % step_ms:
            raise ConfigError(
                "grid_step must divide 15 minutes into whole milliseconds "
                f"(GRIDSTREAM_NET_STEP_S: 60, 30, 300, ...), got {self.grid_step}"
            )
        if self.max_outlier_run < 0:
            raise ConfigError(f"max_outlier_run must not be negative, got {self.max_outlier_run}")
        object.__setattr__(self, "max_gap_ms", self.max_gap // _ONE_MS)
        object.__setattr__(self, "allowed_lateness_ms", self.allowed_lateness // _ONE_MS)
        object.__setattr__(self, "max_wh_per_ms", self.max_power_w / _WMS_PER_WH)
        object.__setattr__(self, "grid_step_ms", step_ms)
        object.__setattr__(self, "duplicate_horizon_ms", self.duplicate_horizon // _ONE_MS)

    @classmethod
    def from_settings(cls, settings: Settings) -> QuarterHourConfig:
        """Build from ``GRIDSTREAM_MAX_GAP_S``, ``..._ALLOWED_LATENESS_S``, ``..._NET_STEP_S``."""
        return cls(
            max_gap=timedelta(seconds=settings.max_gap_s),
            allowed_lateness=timedelta(seconds=settings.allowed_lateness_s),
            max_power_w=settings.max_evse_power_w,
            grid_step=timedelta(seconds=settings.net_step_s),
        )


@dataclass(frozen=True, slots=True)
class RegisterPoint:
    """One reading of one meter series: aware UTC ``ts``, ``wh`` in Wh.

    ``wh`` is the register at ``ts``, for an increments series the energy of the interval
    that ends at ``ts``, for a power series the power in W.
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
    longer than ``max_gap`` (or integrated from power); ``final`` once a reading at or after
    the end exists; ``revision`` 0 at first emission, +1 at each re-emission; ``profile``
    the energy per netting step (None: no energy).
    """

    meter_key: MeterKey
    start: datetime
    wh: float
    completeness: float
    estimated: bool
    final: bool
    revision: int
    profile: Profile | None = None


class RegisterState:
    """Per-meter state of the streaming step; small, plain, snapshot with ``to_dict``.

    Holds the readings that a reading still acceptable could need (those within the allowed
    lateness of the newest, plus what classifying and interpolating their intervals needs),
    which of them are good (not outliers), the last figures emitted for every interval that
    can still change, and one bit per quarter-hour measured completely in the duplicate
    horizon. ``max_power_w``: the meter's rated power (None: the config's bound); the shell
    sets it from the registry. ``add_readings`` updates the state in place.
    """

    __slots__ = (
        "emitted",
        "floor_ms",
        "good",
        "judged_ms",
        "kind",
        "max_power_w",
        "measured_bits",
        "measured_from_ms",
        "meter_key",
        "ts_ms",
        "wh",
    )

    VERSION = 2

    def __init__(self, meter_key: MeterKey, max_power_w: float | None = None) -> None:
        """An empty state for ``meter_key``, bounded by ``max_power_w`` (W) when given."""
        self.meter_key: MeterKey = meter_key
        self.kind = kind_of(meter_key[3])
        self.max_power_w = max_power_w
        self.ts_ms: list[int] = []
        self.wh: list[float] = []
        #: False for an outlier (registers only; every reading of other kinds is good).
        self.good: list[bool] = []
        #: The newest reading whose classification was reported (outliers, segment breaks).
        self.judged_ms: int | None = None
        self.emitted: dict[int, _Emitted] = {}
        #: ``revisable_from_ms`` as of the last clean-up (at most that: never later).
        self.floor_ms: int | None = None
        #: Bit k set: the quarter-hour ``measured_from_ms + k x 15 min`` was measured fully.
        self.measured_from_ms: int | None = None
        self.measured_bits = 0

    @property
    def newest_ms(self) -> int | None:
        """Epoch ms of the newest reading accepted, or None before the first."""
        return self.ts_ms[-1] if self.ts_ms else None

    def bound_wh_per_ms(self, config: QuarterHourConfig) -> float:
        """The most energy (Wh) per ms of a pair's gap this meter can deliver."""
        if self.max_power_w is None:
            return config.max_wh_per_ms
        return self.max_power_w / _WMS_PER_WH

    def revisable_from_ms(self, config: QuarterHourConfig) -> int | None:
        """Start (epoch ms) of the earliest interval a reading still acceptable could change.

        None while the state is empty (the first reading may land anywhere).
        """
        ts = self.ts_ms
        if not ts:
            return None
        cutoff = ts[-1] - config.allowed_lateness_ms
        i = bisect_left(ts, cutoff) - 1
        if i < 0:
            anchor = cutoff
        else:
            # A new reading t >= cutoff changes the pairs around it, and the classification
            # of the readings whose look-ahead reaches it: from a good reading before those.
            anchor = ts[_anchor_before(self, i - _run(self, config))]
        return anchor - anchor % QH_MS

    def was_measured(self, t_ms: int) -> bool:
        """Whether ``t_ms`` lies in a quarter-hour measured fully and forgotten since.

        Such a quarter-hour's readings are gone; a reading in it is one delivered before (a
        re-sent offline batch), as a measured quarter-hour has no room for a new one.
        """
        base = self.measured_from_ms
        if base is None:
            return False
        s = t_ms - t_ms % QH_MS
        for start in (s, s - QH_MS) if s == t_ms else (s,):
            if start >= base and start not in self.emitted:
                if (self.measured_bits >> ((start - base) // QH_MS)) & 1:
                    return True
        return False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot.

        ``{"version", "meter_key", "max_power_w", "ts_ms", "wh", "outliers", "emitted",
        "floor_ms", "measured": [from_ms, bits]}``; ``outliers`` lists the indices of the
        readings that are not good; ``emitted`` lists ``[start_ms, revision, wh,
        completeness, estimated, profile]``.
        """
        return {
            "version": self.VERSION,
            "meter_key": list(self.meter_key),
            "max_power_w": self.max_power_w,
            "ts_ms": list(self.ts_ms),
            "wh": list(self.wh),
            "outliers": [i for i, g in enumerate(self.good) if not g],
            "emitted": [
                [s, r, w, c, e, None if p is None else list(p)]
                for s, (r, w, c, e, p) in self.emitted.items()
            ],
            "floor_ms": self.floor_ms,
            "measured": [self.measured_from_ms, self.measured_bits],
            "judged_ms": self.judged_ms,
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
        station, evse, transaction, series = data["meter_key"]
        state = cls((station, evse, transaction, series), data["max_power_w"])
        state.ts_ms = [int(t) for t in data["ts_ms"]]
        state.wh = [float(w) for w in data["wh"]]
        state.good = [True] * len(state.ts_ms)
        for i in data["outliers"]:
            state.good[i] = False
        state.emitted = {
            int(s): (int(r), float(w), float(c), bool(e), None if p is None else tuple(p))
            for s, r, w, c, e, p in data["emitted"]
        }
        state.floor_ms = data["floor_ms"]
        state.measured_from_ms, state.measured_bits = data["measured"]
        state.judged_ms = data["judged_ms"]
        return state


class Judged(NamedTuple):
    """Readings whose classification became settled in a step (registers only).

    A reading is settled once ``max_outlier_run`` readings follow it: ``outliers`` are the
    (ts_ms, value) of the readings dropped, ``breaks`` the (ts_ms, value) of the readings
    that start a new segment (a reset, a new meter, a jump). Each is reported once.
    """

    outliers: list[tuple[int, float]]
    breaks: list[tuple[int, float]]


_NOTHING_JUDGED = Judged([], [])


class MeterStepMs(NamedTuple):
    """What ``add_readings_ms`` returns.

    ``too_late`` and ``resent`` are indices into the readings given; ``duplicates`` counts
    the readings that changed nothing (``resent`` among them).
    """

    intervals: list[IntervalEnergy]
    too_late: list[int]
    duplicates: int
    resent: list[int]
    judged: Judged


class RegisterStep(NamedTuple):
    """What ``add_readings`` returns.

    ``duplicates`` counts the readings that changed nothing, ``resent`` among them those
    past the allowed lateness in a quarter-hour measured fully and forgotten (not applied).
    """

    state: RegisterState
    intervals: list[IntervalEnergy]
    too_late: list[RegisterPoint]
    duplicates: int
    resent: list[RegisterPoint] = []


def _run(state: RegisterState, config: QuarterHourConfig) -> int:
    return config.max_outlier_run if state.kind is SeriesKind.REGISTER else 0


def _anchor_before(state: RegisterState, i: int) -> int:
    """The last good reading at or before index ``i`` (0 at least: the first is good)."""
    good = state.good
    if i < 0:
        return 0
    while i > 0 and not good[i]:
        i -= 1
    return i


def _plausible(d: float, gap_ms: int, bound_wh_per_ms: float) -> bool:
    """A register pair rising ``d`` Wh over ``gap_ms``: not down, not beyond the bound."""
    return (
        0
        <= d
        <= bound_wh_per_ms * (gap_ms if gap_ms > _MIN_BOUND_GAP_MS else _MIN_BOUND_GAP_MS)
        + REGISTER_RESOLUTION_WH
    )


def classify(
    ts_ms: Sequence[int],
    wh: Sequence[float],
    good: list[bool],
    start: int,
    bound_wh_per_ms: float,
    max_run: int,
) -> None:
    """Mark outliers of a register series in ``good``, from the good reading ``start`` on.

    ``good[start]`` must be a good reading (an anchor); everything after it is classified
    again (module docstring: a reading that breaks a series consistent across it).
    """
    n = len(ts_ms)
    a = start
    good[a] = True
    j = a + 1
    # the bound over the minimum gap, and the slack: a pair rising less is always plausible
    always = bound_wh_per_ms * _MIN_BOUND_GAP_MS + REGISTER_RESOLUTION_WH
    while j < n:
        d = wh[j] - wh[a]
        if 0 <= d and (d <= always or _plausible(d, ts_ms[j] - ts_ms[a], bound_wh_per_ms)):
            good[j] = True
            a = j
            j += 1
            continue
        back = -1
        for c in range(j + 1, min(n, j + 1 + max_run)):
            if _plausible(wh[c] - wh[a], ts_ms[c] - ts_ms[a], bound_wh_per_ms):
                back = c
                break
        if back < 0:  # a reset, a new meter or a jump: a segment break before j
            good[j] = True
            a = j
            j += 1
            continue
        for k in range(j, back):
            good[k] = False
        good[back] = True
        a = back
        j = back + 1


def interval_figures_ms(
    ts_ms: Sequence[int],
    wh: Sequence[float],
    start_ms: int,
    max_gap_ms: int,
    max_wh_per_ms: float = math.inf,
    kind: SeriesKind = SeriesKind.REGISTER,
    good: Sequence[bool] | None = None,
    step_ms: int = 0,
) -> tuple[float, float, bool, Profile | None]:
    """Energy (Wh), completeness (0..1), estimated flag and profile of one interval.

    The interval is ``[start_ms, start_ms + 15 min)``. ``ts_ms`` sorted and unique, ``wh``
    the values at each, ``good`` False at outliers (None: all good). ``max_wh_per_ms``: a
    pair with more energy per ms of its gap is a jump. ``step_ms``: the netting grid (0: no
    profile). Hot-path core of both paths.
    """
    end_ms = start_ms + QH_MS
    n = len(ts_ms)
    i = bisect_right(ts_ms, start_ms) - 1
    if i < 0:
        i = 0
    if good is not None:
        while i > 0 and not good[i]:
            i -= 1
    energy = 0.0
    covered_ms = 0
    estimated = False
    profile: list[float] | None = None
    always = max_wh_per_ms * _MIN_BOUND_GAP_MS + REGISTER_RESOLUTION_WH
    while i + 1 < n:
        a = ts_ms[i]
        if a >= end_ms:
            break
        j = i + 1
        if good is not None:
            while j < n and not good[j]:
                j += 1
            if j == n:
                break
        b = ts_ms[j]
        if b > start_ms:
            gap = b - a
            if kind is SeriesKind.POWER:
                if gap > max_gap_ms:
                    i = j
                    continue
                d = (wh[i] + wh[j]) * gap / (2 * _WMS_PER_WH)
                if d < 0:
                    d = 0.0
                measured = False
            else:
                d = wh[j] if kind is SeriesKind.INCREMENTS else wh[j] - wh[i]
                if d < 0 or (d > always and not _plausible(d, gap, max_wh_per_ms)):
                    i = j  # a segment break: no energy, no coverage
                    continue
                measured = gap <= max_gap_ms or d == 0 or (a >= start_ms and b <= end_ms)
            lo = a if a > start_ms else start_ms
            hi = b if b < end_ms else end_ms
            share = d if hi - lo == gap else d * (hi - lo) / gap
            energy += share
            if measured:
                covered_ms += hi - lo
            elif kind is SeriesKind.POWER:  # integrated power: covered, but estimated
                covered_ms += hi - lo
                if share:
                    estimated = True
            else:
                estimated = True
            if step_ms and share:
                if profile is None:
                    profile = [0.0] * (QH_MS // step_ms)
                k0 = (lo - start_ms) // step_ms
                k1 = (hi - 1 - start_ms) // step_ms
                if k0 == k1:
                    profile[k0] += share
                else:
                    rate = share / (hi - lo)
                    for k in range(k0, k1 + 1):
                        bl = start_ms + k * step_ms
                        bh = bl + step_ms
                        profile[k] += rate * ((hi if hi < bh else bh) - (lo if lo > bl else bl))
        i = j
    return energy, covered_ms / QH_MS, estimated, None if profile is None else tuple(profile)


def add_readings_ms(
    state: RegisterState,
    ts_ms: Sequence[int],
    wh: Sequence[float],
    config: QuarterHourConfig,
    not_before_ms: int | None = None,
) -> MeterStepMs:
    """Streaming step over epoch-ms readings, in arrival order; updates ``state`` in place.

    Returns the intervals that became final or changed (ordered by start), the indices of
    the readings that were too late, the number of duplicates, the indices of the
    duplicates that were re-sent past the allowed lateness, and the readings judged
    outliers or segment breaks (``Judged``). ``add_readings`` is the
    same with datetimes. ``not_before_ms``: readings before it are too late whatever the
    meter's own newest reading (the site passes the oldest interval start it still holds).
    """
    ts = state.ts_ms
    values = state.wh
    good = state.good
    lateness_ms = config.allowed_lateness_ms
    too_late: list[int] = []
    resent: list[int] = []
    duplicates = 0
    first_changed: int | None = None  # the earliest instant inserted, raised or appended
    newest = ts[-1] if ts else None
    for k, t in enumerate(ts_ms):
        v = wh[k]
        if (not_before_ms is not None and t < not_before_ms) or (
            newest is not None and t < newest - lateness_ms
        ):
            i = bisect_left(ts, t)
            if i < len(ts) and ts[i] == t:
                if v <= values[i]:
                    duplicates += 1  # held already: changes nothing
                else:  # a higher value at an instant held: no re-send, and too late
                    too_late.append(k)
            elif i == 0 and state.was_measured(t):
                # before every reading held, in a quarter-hour measured fully and forgotten
                # since: a re-send. Between readings held it would be one never seen.
                duplicates += 1
                resent.append(k)
            else:
                too_late.append(k)
            continue
        if newest is None or t > newest:
            ts.append(t)
            values.append(v)
            good.append(True)
            newest = t
        else:
            i = bisect_left(ts, t)
            if ts[i] == t:
                if v <= values[i]:
                    duplicates += 1
                    continue
                values[i] = v
            else:
                ts.insert(i, t)
                values.insert(i, v)
                good.insert(i, True)
        if first_changed is None or t < first_changed:
            first_changed = t
    if first_changed is None:
        return MeterStepMs([], too_late, duplicates, resent, _NOTHING_JUDGED)
    intervals, judged = _emit(state, first_changed, config)
    return MeterStepMs(intervals, too_late, duplicates, resent, judged)


def _emit(
    state: RegisterState, first_changed: int, config: QuarterHourConfig
) -> tuple[list[IntervalEnergy], Judged]:
    """Classify again from the changed reading's anchor; emit the final intervals that differ."""
    ts = state.ts_ms
    values = state.wh
    p = bisect_left(ts, first_changed)
    q = _anchor_before(state, p - _run(state, config) - 1)
    bound = state.bound_wh_per_ms(config)
    kind = state.kind
    good: list[bool] | None = None
    judged = _NOTHING_JUDGED
    if kind is SeriesKind.REGISTER:
        classify(ts, values, state.good, q, bound, config.max_outlier_run)
        good = state.good
        judged = _judge(state, bound, config.max_outlier_run)
    last_final_start = ts[-1] - QH_MS  # [s, s + 15 min) is final when s + 15 min <= newest
    out: list[IntervalEnergy] = []
    emitted = state.emitted
    s = ts[q] - ts[q] % QH_MS
    while s <= last_final_start:
        energy, completeness, estimated, profile = interval_figures_ms(
            ts, values, s, config.max_gap_ms, bound, kind, good, config.grid_step_ms
        )
        previous = emitted.get(s)
        if previous is None or previous[1:] != (energy, completeness, estimated, profile):
            revision = 0 if previous is None else previous[0] + 1
            emitted[s] = (revision, energy, completeness, estimated, profile)
            out.append(
                IntervalEnergy(
                    state.meter_key,
                    from_epoch_ms(s),
                    energy,
                    completeness,
                    estimated,
                    True,
                    revision,
                    profile,
                )
            )
        s += QH_MS
    _forget(state, config)
    return out, judged


def _judge(state: RegisterState, bound_wh_per_ms: float, max_run: int) -> Judged:
    """The outliers and segment breaks among the readings settled since the last report."""
    ts = state.ts_ms
    settled = len(ts) - 1 - max_run  # readings up to here have their whole look-ahead
    if settled < 1:
        return _NOTHING_JUDGED
    start = 1 if state.judged_ms is None else bisect_right(ts, state.judged_ms)
    if start > settled:
        return _NOTHING_JUDGED
    values = state.wh
    good = state.good
    outliers: list[tuple[int, float]] = []
    breaks: list[tuple[int, float]] = []
    a = _anchor_before(state, start - 1)
    always = bound_wh_per_ms * _MIN_BOUND_GAP_MS + REGISTER_RESOLUTION_WH
    for j in range(a + 1, settled + 1):
        if not good[j]:
            if j >= start:
                outliers.append((ts[j], values[j]))
            continue
        d = values[j] - values[a]
        if (
            j >= start
            and not 0 <= d <= always
            and not _plausible(d, ts[j] - ts[a], bound_wh_per_ms)
        ):
            breaks.append((ts[j], values[j]))
        a = j
    state.judged_ms = ts[settled]
    if not outliers and not breaks:
        return _NOTHING_JUDGED
    return Judged(outliers, breaks)


def _forget(state: RegisterState, config: QuarterHourConfig) -> None:
    """Drop readings and emitted figures that no acceptable reading can need again.

    The floor moves in quarter-hour steps; the readings kept start at a good one. A dropped
    interval that was measured fully is remembered as one bit, for the duplicate rule.
    """
    floor = state.revisable_from_ms(config)
    if floor is None or floor == state.floor_ms:
        return
    state.floor_ms = floor
    ts = state.ts_ms
    j = _anchor_before(state, bisect_right(ts, floor) - 1)
    if j > 0:
        del ts[:j]
        del state.wh[:j]
        del state.good[:j]
    emitted = state.emitted
    for s in [s for s in emitted if s < floor]:
        _, _, completeness, estimated, _ = emitted.pop(s)
        if completeness >= 1.0 and not estimated:
            _remember_measured(state, s)
    horizon = ts[-1] - config.duplicate_horizon_ms
    horizon -= horizon % QH_MS
    base = state.measured_from_ms
    if base is not None and base < horizon:
        state.measured_bits >>= (horizon - base) // QH_MS
        state.measured_from_ms = horizon if state.measured_bits else None


def _remember_measured(state: RegisterState, start_ms: int) -> None:
    base = state.measured_from_ms
    if base is None:
        state.measured_from_ms = start_ms
        state.measured_bits = 1
    elif start_ms < base:
        state.measured_bits = (state.measured_bits << ((base - start_ms) // QH_MS)) | 1
        state.measured_from_ms = start_ms
    else:
        state.measured_bits |= 1 << ((start_ms - base) // QH_MS)


def add_readings(
    state: RegisterState, points: Sequence[RegisterPoint], config: QuarterHourConfig
) -> RegisterStep:
    """Apply a batch of one meter's readings, in arrival order (the streaming step).

    Updates ``state`` in place and returns it with the intervals ``[start, start + 15 min)``
    that became final or changed (each with its next revision), the readings that were too
    late (older than the newest reading minus ``allowed_lateness``, and not duplicates:
    route them to ``dlq`` with reason ``too_late``), and the number of duplicates (readings
    that changed nothing).

    >>> from datetime import UTC
    >>> config = QuarterHourConfig(timedelta(minutes=15), timedelta(hours=1))
    >>> state = RegisterState(("CS1", 1, None, "Energy.Active.Import.Register"))
    >>> at = lambda hh, mm, ss=0: datetime(2026, 1, 15, hh, mm, ss, tzinfo=UTC)
    >>> step = add_readings(state, [RegisterPoint(at(10, 7, 30), 1000.0),
    ...                             RegisterPoint(at(10, 22, 30), 1300.0)], config)
    >>> [(i.start.strftime("%H:%M"), i.wh, i.completeness) for i in step.intervals]
    [('10:00', 150.0, 0.5)]
    """
    ts_ms = [to_epoch_ms(p.ts) for p in points]
    wh = [p.wh for p in points]
    intervals, late, duplicates, resent, _ = add_readings_ms(state, ts_ms, wh, config)
    return RegisterStep(
        state, intervals, [points[k] for k in late], duplicates, [points[k] for k in resent]
    )


def _sorted_unique(points: Iterable[RegisterPoint]) -> tuple[list[int], list[float]]:
    best: dict[int, float] = {}
    for p in points:
        t = to_epoch_ms(p.ts)
        w = best.get(t)
        if w is None or p.wh > w:
            best[t] = p.wh
    ts = sorted(best)
    return ts, [best[t] for t in ts]


def register_at(
    points: Iterable[RegisterPoint], t: datetime, max_power_w: float = math.inf
) -> float | None:
    """R(t): the register at ``t``, interpolated linearly between its neighbouring readings.

    The neighbours are the last good reading at or before ``t`` and the first good one at
    or after it (outliers are skipped, as the energy rules skip them). None when ``t`` lies
    before the first reading, after the last, or across a segment break. Readings need not
    be sorted; at one instant the higher value counts. For register series only.

    >>> from datetime import UTC
    >>> at = lambda hh, mm, ss=0: datetime(2026, 1, 15, hh, mm, ss, tzinfo=UTC)
    >>> register_at([RegisterPoint(at(10, 7, 30), 1000.0),
    ...              RegisterPoint(at(10, 22, 30), 1300.0)], at(10, 15))
    1150.0
    """
    all_ts, all_wh = _sorted_unique(points)
    if not all_ts:
        return None
    good = [True] * len(all_ts)
    bound = max_power_w / _WMS_PER_WH
    classify(all_ts, all_wh, good, 0, bound, DEFAULT_MAX_OUTLIER_RUN)
    ts = [x for x, g in zip(all_ts, good, strict=True) if g]
    wh = [x for x, g in zip(all_wh, good, strict=True) if g]
    t_ms = to_epoch_ms(t)
    i = bisect_right(ts, t_ms) - 1
    if i < 0:
        return None
    if ts[i] == t_ms:
        return wh[i]
    if i + 1 >= len(ts) or not _plausible(wh[i + 1] - wh[i], ts[i + 1] - ts[i], bound):
        return None
    return wh[i] + (wh[i + 1] - wh[i]) * (t_ms - ts[i]) / (ts[i + 1] - ts[i])


def energy_of_intervals(
    points: Iterable[RegisterPoint],
    start: datetime,
    end: datetime,
    config: QuarterHourConfig,
    *,
    meter_key: MeterKey,
    max_power_w: float | None = None,
) -> list[IntervalEnergy]:
    """The batch path: one meter's intervals overlapping ``[start, end)`` from its full history.

    Same rules as ``add_readings`` (see the module docstring), revision 0; ``meter_key``'s
    series says the kind of the points; ``max_power_w`` the meter's rated power (None: the
    config's bound). Returns every interval that overlaps the span of the readings, ordered
    by start; those without a reading at or after their end carry ``final=False`` (the
    stream has not emitted them).
    """
    ts, wh = _sorted_unique(points)
    if not ts:
        return []
    state = RegisterState(meter_key, max_power_w)
    bound = state.bound_wh_per_ms(config)
    kind = state.kind
    good: list[bool] | None = None
    if kind is SeriesKind.REGISTER:
        good = [True] * len(ts)
        classify(ts, wh, good, 0, bound, config.max_outlier_run)
    first, last = ts[0], ts[-1]
    out: list[IntervalEnergy] = []
    for qh in quarter_hours(start, end):
        s = to_epoch_ms(qh)
        if s + QH_MS <= first or s >= last:
            continue
        energy, completeness, estimated, profile = interval_figures_ms(
            ts, wh, s, config.max_gap_ms, bound, kind, good, config.grid_step_ms
        )
        out.append(
            IntervalEnergy(
                meter_key, qh, energy, completeness, estimated, s + QH_MS <= last, 0, profile
            )
        )
    return out
