"""Early peak warnings: the open quarter-hour's projected average, alerted before it closes.

DOMAIN.md, Peaks and capacity tariffs. At time t in the quarter-hour [s, s + 15 min) the
projected average import power is

    (E(s, t) + P(t) x (s + 15 min - t)) / 0.25 h

with E(s, t) the import energy since s and P(t) the latest import power (else the slope of
the register's last two readings). Per meter (station and EVSE; a station's main meter,
EVSE 0, stands for its EVSEs when it reports) E runs from the register at s (interpolated
between the readings around s) to its latest reading at t_m, and P carries it from t_m to
the end; the site's projection is the sum over its meters. A register reading lower than
the one before, or one implying more than the meter's rated power, is skipped here: the
site load judges misreads and resets, this only must not raise a false alarm on one.

When a projection crosses the month's peak so far (from the site load's ``Peak``), a
configured threshold or the site's contracted capacity, one ``PeakAlert`` per crossing
and quarter-hour goes out, from the batch holding the reading that caused it (the worker
takes a batch at most ``GRIDSTREAM_WORKER_BATCH_WITHIN_S`` after its first record).
Readings older than the open quarter-hour do not move it (they are the site load's).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridstream.periods import QUARTER_HOUR_MS as QH_MS
from gridstream.periods import from_epoch_ms, month_of, to_epoch_ms
from gridstream.records import Crossed, MeterSample, Peak, PeakAlert, Record
from gridstream.registers import IMPORT_POWER, IMPORT_REGISTER, sample_energy, sample_power
from gridstream.settings import Settings
from streams.compute.computation import BatchContext, ComputationStep, evse_key

COMPUTED_BY = "peak_alerts/1"
_MS_PER_H = 3_600_000


@dataclass(frozen=True, slots=True)
class PeakAlertConfig:
    """A site-independent threshold (W; None: none), and the meter bound without a rating."""

    threshold_w: float | None = None
    max_evse_power_w: float = 400_000.0
    max_station_power_w: float = 2_000_000.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PeakAlertConfig:
        """Build from the one ``Settings`` object."""
        return cls(
            settings.peak_alert_threshold_w,
            settings.max_evse_power_w,
            settings.max_station_power_w,
        )


@dataclass
class _Meter:
    #: Latest register reading (epoch ms, Wh) and latest import power reading (epoch ms, W).
    last: tuple[int, float] | None = None
    power: tuple[int, float] | None = None
    #: Register at the open quarter-hour's start; None until known.
    start_wh: float | None = None
    #: The reading before the latest, for the slope.
    previous: tuple[int, float] | None = None


@dataclass
class SiteProjection:
    """One site's open quarter-hour: its start, meters, alerts sent, the month's peak."""

    start_ms: int | None = None
    meters: dict[str, _Meter] = field(default_factory=dict)
    alerted: set[str] = field(default_factory=set)
    #: The month's peak so far: (month, W).
    month_peak: tuple[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "start_ms": self.start_ms,
            "meters": {
                k: [m.last, m.power, m.start_wh, m.previous] for k, m in self.meters.items()
            },
            "alerted": sorted(self.alerted),
            "month_peak": self.month_peak,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteProjection:
        """The state of a ``to_dict`` snapshot."""

        def pair(v: list[Any] | None) -> tuple[int, float] | None:
            return None if v is None else (int(v[0]), float(v[1]))

        meters = {
            k: _Meter(pair(last), pair(power), start_wh, pair(previous))
            for k, (last, power, start_wh, previous) in data["meters"].items()
        }
        peak = data["month_peak"]
        return cls(
            data["start_ms"],
            meters,
            set(data["alerted"]),
            None if peak is None else (peak[0], float(peak[1])),
        )


def projected_average_w(energy_wh: float, power_w: float, t_ms: int, end_ms: int) -> float:
    """The quarter-hour's projected average (W) from E(s, t), P(t), t and s + 15 min.

    >>> projected_average_w(2_500.0, 30_000.0, 5 * 60_000, 15 * 60_000)  # 2.5 kWh by minute 5
    30000.0
    """
    return (energy_wh + power_w * (end_ms - t_ms) / _MS_PER_H) / 0.25


def _meter_projection(meter: _Meter, start_ms: int, end_ms: int) -> tuple[float, float]:
    """(energy since the quarter-hour's start, projected energy by its end) of one meter.

    A meter with no reading yet in the quarter-hour (its register at the start unknown)
    adds its power over the whole quarter-hour, from nothing measured so far.
    """
    assert meter.last is not None
    t, wh = meter.last
    if meter.power is not None and meter.power[0] >= t - 60_000:
        power = meter.power[1]
    elif meter.previous is not None and meter.previous[0] < t:
        power = (wh - meter.previous[1]) / ((t - meter.previous[0]) / _MS_PER_H)
    else:
        power = 0.0
    if meter.start_wh is None:
        return 0.0, power * (end_ms - start_ms) / _MS_PER_H
    energy = wh - meter.start_wh
    return energy, energy + power * max(0, end_ms - t) / _MS_PER_H


def open_quarter(state: SiteProjection) -> tuple[int, float, float] | None:
    """A site's open quarter-hour: (start ms, import energy so far Wh, projected average W).

    The sum over the site's meters (module docstring); None before its first reading.
    """
    if state.start_ms is None:
        return None
    end_ms = state.start_ms + QH_MS
    stations_with_main = {k.split("|")[0] for k in state.meters if k.endswith("|0")}
    energy = projected = 0.0
    newest = max((m.last[0] for m in state.meters.values() if m.last), default=0)
    for key, meter in state.meters.items():
        station, evse = key.split("|")
        if station in stations_with_main and evse != "0":
            continue  # the station's main meter stands for its EVSEs
        if meter.last is None or meter.last[0] < newest - QH_MS:
            continue  # silent for a quarter-hour: its session is over, or it is away
        figures = _meter_projection(meter, state.start_ms, end_ms)
        energy += figures[0]
        projected += figures[1]
    return state.start_ms, energy, projected / 0.25


class PeakAlerts:
    """Projected open quarter-hours and their alerts, keyed by site."""

    name = "peak_alerts"

    def __init__(self, config: PeakAlertConfig) -> None:
        """Alert with ``config``'s threshold and meter bounds."""
        self.config = config

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[MeterSample],
        context: BatchContext,
    ) -> ComputationStep:
        """Move each site's open quarter-hour with the batch's readings; alert on crossings."""
        for record in context.upstream:
            if isinstance(record, Peak):
                state = self._state(states, record.site_id)
                if state.month_peak is None or record.month >= state.month_peak[0]:
                    state.month_peak = (record.month, record.peak_w)
        # Per site, the newest reading that moved its projection (a register or a power
        # reading, always in the open quarter-hour) and when the newest arrived.
        touched: dict[str, tuple[int, int]] = {}
        for sample in samples:
            if self._take(self._state(states, sample.site_id), sample, context):
                t, received = to_epoch_ms(sample.ts), to_epoch_ms(sample.received_at)
                before = touched.get(sample.site_id, (t, received))
                touched[sample.site_id] = (max(before[0], t), max(before[1], received))
        out: list[Record] = []
        for site_id, (reading_ms, received_ms) in touched.items():
            out += self._alerts(site_id, states[site_id], reading_ms, received_ms, context)
        return ComputationStep(out, set(touched), {"peak_alerts": len(out)})

    @staticmethod
    def _state(states: MutableMapping[str, Any], site_id: str) -> SiteProjection:
        state = states.get(site_id)
        if state is None:
            state = states[site_id] = SiteProjection()
        return state

    def _take(self, state: SiteProjection, sample: MeterSample, context: BatchContext) -> bool:
        """Fold one sample's import register and power in; whether it moved the projection."""
        t = to_epoch_ms(sample.ts)
        quarter = t - t % QH_MS
        if state.start_ms is not None and quarter < state.start_ms:
            return False  # late: the site load's business
        if state.start_ms is None or quarter > state.start_ms:
            state.start_ms = quarter
            state.alerted.clear()
            for meter in state.meters.values():
                meter.start_wh = None  # set from the next reading, interpolated at the start
        key = evse_key(sample.station_id, sample.evse_id)
        meter = state.meters.setdefault(key, _Meter())
        moved = False
        power = sample_power(sample.readings, IMPORT_POWER)
        if power is not None:
            meter.power = (t, power)
            moved = True
        wh = sample_energy(sample.readings).get(IMPORT_REGISTER)
        if wh is None:
            return moved
        last = meter.last
        if last is not None and t > last[0]:
            bound = context.rated_power(sample.station_id, sample.evse_id) or (
                self.config.max_station_power_w
                if sample.evse_id == 0
                else self.config.max_evse_power_w
            )
            rate = (wh - last[1]) / ((t - last[0]) / _MS_PER_H)
            if rate < 0 or rate > bound:
                return moved  # a misread or a reset: no alarm on it
        elif last is not None:
            return moved  # not newer than the latest reading
        if meter.start_wh is None:
            if last is not None and last[0] < state.start_ms <= t:
                share = (state.start_ms - last[0]) / (t - last[0])
                meter.start_wh = last[1] + (wh - last[1]) * share
            else:
                meter.start_wh = wh  # no reading before: energy counts from this one
        meter.previous, meter.last = last, (t, wh)
        return True

    def _alerts(
        self,
        site_id: str,
        state: SiteProjection,
        reading_ms: int,
        received_ms: int,
        context: BatchContext,
    ) -> list[Record]:
        figures = open_quarter(state)
        assert figures is not None and state.start_ms is not None
        _, energy, average_w = figures
        zone = context.zone_for_site(site_id)
        month = month_of(from_epoch_ms(state.start_ms), zone)
        limits: list[tuple[Crossed, float]] = []
        if state.month_peak is not None and state.month_peak[0] == month:
            limits.append(("month_peak", state.month_peak[1]))
        if self.config.threshold_w is not None:
            limits.append(("threshold", self.config.threshold_w))
        info = context.site_info(site_id)
        if info is not None and info.contracted_capacity_w is not None:
            limits.append(("contracted_capacity", info.contracted_capacity_w))
        out: list[Record] = []
        for crossed, limit_w in limits:
            if average_w > limit_w and crossed not in state.alerted:
                state.alerted.add(crossed)
                out.append(
                    PeakAlert(
                        alert_id=f"{site_id}:{from_epoch_ms(state.start_ms).isoformat()}:{crossed}",
                        site_id=site_id,
                        interval_start=from_epoch_ms(state.start_ms),
                        reading_ts=from_epoch_ms(reading_ms),
                        reading_received_at=from_epoch_ms(received_ms),
                        projected_w=round(average_w, 3),
                        energy_so_far_wh=round(energy, 3),
                        crossed=crossed,
                        crossed_w=limit_w,
                        computed_by=COMPUTED_BY,
                        as_of=context.as_of,
                    )
                )
        return out

    def to_dict(self, state: SiteProjection) -> dict[str, Any]:
        """``SiteProjection.to_dict``."""
        return state.to_dict()

    def from_dict(self, data: dict[str, Any]) -> SiteProjection:
        """``SiteProjection.from_dict``."""
        return SiteProjection.from_dict(data)

    def newest_ms(self, state: SiteProjection) -> int | None:
        """The open quarter-hour's start."""
        return state.start_ms
