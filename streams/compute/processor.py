"""One site's chain: meter samples -> energy readings -> meter intervals -> site loads -> peaks.

The Faust shell keeps one ``SiteState`` per site (a plain dict keyed by site id, snapshot
with ``to_dict``) and hands each batch of a site's samples to ``process_samples`` (or a
mixed batch to ``process_batch``). Nothing here reads a clock or a zone: ``as_of`` and the
site's ``ZoneInfo`` are passed in.

Duplicates: a sample sent twice (same station, EVSE, ``ts`` and readings, as a re-sent
offline batch is) adds no energy the second time, whichever series it carries; its readings
are counted in ``duplicates``.

Each meter's pair bound is its rated power (``rated_power``: the registry's, per station
and EVSE), else the config's (``max_evse_power_w``, or ``max_station_power_w`` for a
station's main meter, EVSE 0).

Lateness is judged per meter (a station that was offline sends its buffer in order, and
each reading is late only against that meter's own newest reading). The site holds, per
interval, each meter's figures for as long as any of its meters can still revise that
interval, but never longer than ``site_memory`` behind the site's newest reading: that bounds
the state when a meter falls silent. A meter interval older than that (from a meter silent
for longer than ``site_memory``, whose next reading spreads energy over its whole gap) is
not folded into the site load: its sample is returned as a ``too_late`` rejection.

A meter silent for longer than ``site_memory`` keeps only its last reading (the next one
pairs with it); a meter keyed by its transaction (EVSE unknown) is dropped then, as its
transaction is over. So a silent meter's state is bounded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from gridstream.errors import StateError
from gridstream.periods import QUARTER_HOUR_MS as QH_MS
from gridstream.periods import from_epoch_ms
from gridstream.records import DeadLetter, EvseQuarterHourLoad, MeterSample, Peak, QuarterHourLoad
from gridstream.settings import Settings
from streams.compute.meter_registers import energy_points_ms
from streams.compute.peaks import PEAKS_COMPUTED_BY, PeakState, monthly_peaks
from streams.compute.quarter_hour import (
    IntervalEnergy,
    MeterKey,
    QuarterHourConfig,
    RegisterState,
    add_readings_ms,
)
from streams.compute.site_load import SiteLoadState, site_quarter_hour

_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """Parameters of the per-site chain.

    ``site_memory``: how far behind the site's newest reading per-meter interval figures
    are kept at most, so that a silent meter cannot grow the state without bound.
    """

    quarter_hour: QuarterHourConfig
    site_memory: timedelta = timedelta(days=2)
    peaks_computed_by: str = PEAKS_COMPUTED_BY
    #: The bound of a station's main meter (EVSE 0) the registry gives no power for.
    max_station_power_w: float = 2_000_000.0
    site_memory_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Derive the millisecond form of ``site_memory``."""
        object.__setattr__(self, "site_memory_ms", self.site_memory // _ONE_MS)

    @classmethod
    def from_settings(cls, settings: Settings) -> SiteConfig:
        """Build from the one ``Settings`` object."""
        return cls(
            quarter_hour=QuarterHourConfig.from_settings(settings),
            max_station_power_w=settings.max_station_power_w,
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    """A sample (or part of it) that was not applied, with a reason code of ``REASONS``."""

    reason: str
    detail: str
    sample: MeterSample

    def to_dead_letter(self) -> DeadLetter:
        """The ``dlq`` record: the sample as raw JSON, its source, station and reason."""
        return DeadLetter(
            source=self.sample.source,
            reason=self.reason,
            detail=self.detail,
            raw=self.sample.to_json().decode(),
            received_at=self.sample.received_at,
            station_id=self.sample.station_id,
            message_id=self.sample.message_id,
        )


class SiteState:
    """Everything kept for one site: its meters' registers, its open loads, its peaks."""

    __slots__ = ("load", "meters", "peaks", "site_id")

    VERSION = 2

    def __init__(self, site_id: str) -> None:
        """An empty state for ``site_id``."""
        self.site_id = site_id
        self.meters: dict[MeterKey, RegisterState] = {}
        self.load = SiteLoadState(site_id)
        self.peaks = PeakState(site_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot: ``{"version", "site_id", "meters": [...], "load", "peaks"}``."""
        return {
            "version": self.VERSION,
            "site_id": self.site_id,
            "meters": [m.to_dict() for m in self.meters.values()],
            "load": self.load.to_dict(),
            "peaks": self.peaks.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteState:
        """Restore a ``to_dict`` snapshot; ``StateError`` for an unknown version."""
        version = data.get("version")
        if version != cls.VERSION:
            raise StateError(
                f"SiteState snapshot version {version!r} of site {data.get('site_id')!r} is "
                f"not supported (expected {cls.VERSION}); rebuild it by replaying the site"
            )
        state = cls(data["site_id"])
        for m in data["meters"]:
            meter = RegisterState.from_dict(m)
            state.meters[meter.meter_key] = meter
        state.load = SiteLoadState.from_dict(data["load"])
        state.peaks = PeakState.from_dict(data["peaks"])
        return state


RatedPower = Callable[[str, int | None], float | None]
"""(station_id, evse_id) -> the EVSE's rated power in W, or None when not known."""


def unknown_power(station_id: str, evse_id: int | None) -> float | None:
    """A ``RatedPower`` that knows none: every meter gets the config's default bound."""
    return None


class Quirks(NamedTuple):
    """What the meters' quirks cost a step: visible, never silent.

    ``outliers``: a dead letter (reason ``outlier``) per register reading dropped as a
    misread; ``resets``: readings that started a new segment (a reset, a new meter, a jump
    up); ``estimated``: site quarter-hours emitted with energy spread over a gap or
    integrated from power.
    """

    outliers: list[DeadLetter]
    resets: int
    estimated: int


NO_QUIRKS = Quirks([], 0, 0)


class SiteStep(NamedTuple):
    """What ``process_samples`` returns; ``duplicates`` counts readings that changed nothing."""

    state: SiteState
    loads: list[QuarterHourLoad]
    peaks: list[Peak]
    rejections: list[Rejection]
    duplicates: int
    evse_loads: list[EvseQuarterHourLoad] = []
    quirks: Quirks = NO_QUIRKS


def process_samples(
    state: SiteState,
    samples: Sequence[MeterSample],
    config: SiteConfig,
    zone: ZoneInfo,
    as_of: datetime,
    rated_power: RatedPower = unknown_power,
) -> SiteStep:
    """Apply a batch of one site's samples, in arrival order; updates ``state`` in place.

    Returns the site's ``QuarterHourLoad`` records that are new or revised (final intervals
    ``[start, start + 15 min)`` only), the ``Peak`` records that changed, rejections (send
    ``to_dead_letter()`` to ``dlq``), the duplicate count and the meters' own
    ``EvseQuarterHourLoad`` figures that changed. ``zone``: the site's time zone;
    ``rated_power``: each EVSE's rated power (the registry's). Raises ``ValueError`` for a
    sample of another site (a caller's bug).
    """
    site = state.site_id
    for sample in samples:
        if sample.site_id != site:
            raise ValueError(f"sample of site {sample.site_id!r} given to site {site!r}")
    qh_config = config.quarter_hour
    intervals: list[IntervalEnergy] = []
    rejected: dict[int, list[str]] = {}
    first_sample: dict[MeterKey, int] = {}
    duplicates = 0
    outliers: list[DeadLetter] = []
    resets = 0
    floor = state.load.floor_ms
    for key, (ts_ms, wh, index) in energy_points_ms(samples).items():
        meter = state.meters.get(key)
        if meter is None:
            meter = state.meters[key] = RegisterState(key)
        meter.max_power_w = meter_bound_w(key, rated_power, config)
        emitted, late, dups, _, judged = add_readings_ms(meter, ts_ms, wh, qh_config, floor)
        duplicates += dups
        if judged.outliers or judged.breaks:
            resets += len(judged.breaks)
            outliers.extend(_outlier_letter(site, key, t, v, as_of) for t, v in judged.outliers)
        for k in late:
            rejected.setdefault(index[k], []).append(_too_late(key, ts_ms[k], meter, floor, config))
        if len(late) < len(index):
            late_set = set(late)
            first_sample[key] = min(i for k, i in enumerate(index) if k not in late_set)
        intervals.extend(emitted)
        if not meter.ts_ms:  # nothing accepted from a meter not seen before
            del state.meters[key]
    load_step = site_quarter_hour(state.load, intervals, qh_config, as_of)
    too_old: dict[MeterKey, list[datetime]] = {}
    for iv in load_step.too_old:
        too_old.setdefault(iv.meter_key, []).append(iv.start)
    for key, starts in too_old.items():
        rejected.setdefault(first_sample[key], []).append(
            f"after a silence, {key[2]} of {key[0]}/{key[1]} spreads energy back over "
            f"{len(starts)} quarter-hours from {min(starts).isoformat()} to "
            f"{max(starts).isoformat()}, which the site no longer holds (site_memory "
            f"{config.site_memory}); that part is not in the site load"
        )
    peak_step = monthly_peaks(
        state.peaks, load_step.loads, zone, as_of, computed_by=config.peaks_computed_by
    )
    if intervals:  # meters' floors move only when they recompute an interval
        _forget(state, config)
    rejections = [
        Rejection("too_late", f"site {site}: " + "; ".join(details), samples[i])
        for i, details in sorted(rejected.items())
    ]
    quirks = Quirks(outliers, resets, sum(1 for load in load_step.loads if load.estimated))
    return SiteStep(
        state,
        load_step.loads,
        peak_step.peaks,
        rejections,
        duplicates,
        load_step.evse_loads,
        quirks,
    )


def _outlier_letter(
    site: str, key: MeterKey, t_ms: int, value: float, as_of: datetime
) -> DeadLetter:
    """The dead letter of a register reading dropped as an outlier."""
    station, evse, transaction, series = key
    ts = from_epoch_ms(t_ms).isoformat()
    meter = f"{station}/{evse if evse is not None else 'transaction ' + str(transaction)}"
    return DeadLetter(
        source="worker:meter.samples",
        reason="outlier",
        detail=(
            f"site {site}: {series} of {meter} at {ts} = {value:g} Wh breaks a register "
            "consistent across it (a misread): dropped, the readings around it count"
        ),
        raw=json.dumps(
            {
                "site_id": site,
                "station_id": station,
                "evse_id": evse,
                "transaction_id": transaction,
                "series": series,
                "ts": ts,
                "value": value,
            }
        ),
        received_at=as_of,
        station_id=station,
    )


def meter_bound_w(key: MeterKey, rated_power: RatedPower, config: SiteConfig) -> float:
    """The most power (W) a meter's readings may imply: its rated power, else the defaults.

    The default is ``max_evse_power_w`` for an EVSE (or a transaction's meter), and
    ``max_station_power_w`` for a station's main meter (EVSE 0), which sums its EVSEs.
    """
    station, evse = key[0], key[1]
    rated = rated_power(station, evse)
    if rated is not None:
        return rated
    if evse == 0:
        return config.max_station_power_w
    return config.quarter_hour.max_power_w


def _too_late(
    key: MeterKey, t_ms: int, meter: RegisterState, floor_ms: int | None, config: SiteConfig
) -> str:
    what = f"{key[2]} of {key[0]}/{key[1]} at {from_epoch_ms(t_ms).isoformat()}"
    newest = meter.newest_ms
    if newest is not None and t_ms < newest - config.quarter_hour.allowed_lateness_ms:
        return (
            f"{what} is older than the meter's newest reading "
            f"({from_epoch_ms(newest).isoformat()}) minus the allowed lateness "
            f"({config.quarter_hour.allowed_lateness})"
        )
    floor = "none" if floor_ms is None else from_epoch_ms(floor_ms).isoformat()
    return (
        f"{what} is before {floor}, the oldest quarter-hour the site still holds (its "
        f"meters' allowed lateness, at most site_memory {config.site_memory} behind its "
        f"newest reading)"
    )


def _forget(state: SiteState, config: SiteConfig) -> None:
    """Move the site's floor to the earliest interval any meter can still revise.

    But no further back than ``site_memory`` behind the site's newest reading.
    """
    floor: int | None = None
    site_newest: int | None = None
    for meter in state.meters.values():
        f = meter.floor_ms
        if f is not None and (floor is None or f < floor):
            floor = f
        n = meter.newest_ms
        if n is not None and (site_newest is None or n > site_newest):
            site_newest = n
    if floor is None or site_newest is None:
        return
    memory_floor = site_newest - config.site_memory_ms
    memory_floor -= memory_floor % QH_MS
    floor = max(floor, memory_floor)
    for key in [k for k, m in state.meters.items() if (m.newest_ms or 0) < memory_floor]:
        meter = state.meters[key]
        if key[2] is not None:  # a transaction's meter: the transaction is over
            del state.meters[key]
        elif len(meter.ts_ms) > 1 or meter.emitted:
            # a silent meter: its next reading pairs with its last one, nothing else matters
            del meter.ts_ms[:-1], meter.wh[:-1], meter.good[:-1]
            meter.emitted.clear()
    state.load.forget_before_ms(floor)
    state.peaks.settle_before_ms(floor)


class BatchStep(NamedTuple):
    """What ``process_batch`` returns: outputs of every site in the batch."""

    loads: list[QuarterHourLoad]
    peaks: list[Peak]
    rejections: list[Rejection]
    duplicates: int
    evse_loads: list[EvseQuarterHourLoad] = []
    quirks: Quirks = NO_QUIRKS


def process_batch(
    states: MutableMapping[str, SiteState],
    samples: Sequence[MeterSample],
    config: SiteConfig,
    zone_for_site: Callable[[str], ZoneInfo],
    as_of: datetime,
    rated_power: RatedPower = unknown_power,
) -> BatchStep:
    """Apply a batch of samples of any sites: ``process_samples`` per site, in arrival order.

    ``states`` maps site id to its state; a site not in it gets a new one (added). Outputs
    are grouped by site in order of first appearance in the batch.
    """
    by_site: dict[str, list[MeterSample]] = {}
    for sample in samples:
        group = by_site.get(sample.site_id)
        if group is None:
            group = by_site[sample.site_id] = []
        group.append(sample)
    loads: list[QuarterHourLoad] = []
    peaks: list[Peak] = []
    rejections: list[Rejection] = []
    duplicates = 0
    evse_loads: list[EvseQuarterHourLoad] = []
    outliers: list[DeadLetter] = []
    resets = estimated = 0
    for site, group in by_site.items():
        state = states.get(site)
        if state is None:
            state = states[site] = SiteState(site)
        step = process_samples(state, group, config, zone_for_site(site), as_of, rated_power)
        loads.extend(step.loads)
        evse_loads.extend(step.evse_loads)
        outliers.extend(step.quirks.outliers)
        resets += step.quirks.resets
        estimated += step.quirks.estimated
        peaks.extend(step.peaks)
        rejections.extend(step.rejections)
        duplicates += step.duplicates
    return BatchStep(
        loads, peaks, rejections, duplicates, evse_loads, Quirks(outliers, resets, estimated)
    )
