"""Peaks over time: the highest peak ever per site and per EVSE, and the capacity tariff.

DOMAIN.md, Peaks and capacity tariffs; GRID.md 4.1 (Flanders). Read from the records the
site load made of the same batch:

- the site's monthly peaks (``Peak``, a later revision of a month replaces it) give the
  capacity-tariff figures of the month: the peak, the peak the tariff bills (never below
  the regime's floor: 2.5 kW in Flanders) and the average of the billed peaks of the last
  twelve months, this one included (a month without data counts at the floor, as a month
  with no measurement is billed at the minimum), and the site's highest peak ever;
- each meter's own quarter-hours (``EvseQuarterHourLoad``, gross import) give its highest
  quarter-hour average import ever. Quarter-hours that can still be revised (within the
  allowed lateness of the meter's newest) are kept one by one, so that a revision lowering
  the one that set the peak lowers the peak; older ones are folded into one figure.

The regime is the site's (``SiteAssignment.tariff_regime``), else the configured default;
a regime without a capacity tariff (``none``, or one this module does not know) gives no
tariff figures, only the highest peaks.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from gridstream.periods import from_epoch_ms, to_epoch_ms
from gridstream.records import (
    CapacityTariff,
    EvseQuarterHourLoad,
    HighestPeak,
    MeterSample,
    Peak,
    Record,
)
from gridstream.settings import Settings
from streams.compute.computation import BatchContext, ComputationStep

COMPUTED_BY = "peak_history/1"


@dataclass(frozen=True, slots=True)
class TariffRegime:
    """How a capacity tariff bills peaks: a floor (W) and how many months it averages."""

    floor_w: float
    months: int


#: The capacity tariffs gridstream knows, by the registry's ``tariff_regime`` name.
REGIMES: dict[str, TariffRegime] = {
    # Fluvius / VREG: monthly peak floored at 2.5 kW, billed on the 12-month average.
    "capacity_tariff_flanders": TariffRegime(floor_w=2_500.0, months=12),
}


@dataclass(frozen=True, slots=True)
class PeakHistoryConfig:
    """The default tariff regime, and how long a meter's quarter-hours stay revisable."""

    default_regime: str = "capacity_tariff_flanders"
    lateness: timedelta = timedelta(hours=6)

    @classmethod
    def from_settings(cls, settings: Settings) -> PeakHistoryConfig:
        """Build from the one ``Settings`` object."""
        return cls(
            default_regime=settings.default_tariff_regime,
            lateness=timedelta(seconds=settings.allowed_lateness_s),
        )


def months_back(month: str, n: int) -> list[str]:
    """``month`` (``YYYY-MM``) and the ``n - 1`` before it, oldest first.

    >>> months_back("2026-02", 3)
    ['2025-12', '2026-01', '2026-02']
    """
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - n + 1, index + 1)]


def tariff_figures(
    peaks_w: dict[str, float], month: str, regime: TariffRegime
) -> tuple[float, float, int]:
    """The billed peak of ``month``, the average billed peak and how many months had data.

    The average is over the regime's months ending with ``month``; a month without a peak
    counts at the floor.

    >>> peaks = {"2026-01": 6_000.0, "2026-02": 1_000.0}
    >>> tariff_figures(peaks, "2026-02", TariffRegime(2_500, 3))
    (2500.0, 3666.6666666666665, 2)
    """
    window = months_back(month, regime.months)
    billed = [max(regime.floor_w, peaks_w.get(m, 0.0)) for m in window]
    measured = sum(1 for m in window if m in peaks_w)
    return billed[-1], sum(billed) / len(billed), measured


@dataclass
class _MeterPeak:
    #: Revisable quarter-hours: start ms -> average import W.
    open: dict[int, float] = field(default_factory=dict)
    #: The highest settled quarter-hour: (W, start ms).
    settled: tuple[float, int] | None = None

    def best(self) -> tuple[float, int] | None:
        out = self.settled
        for start, w in self.open.items():
            if out is None or w > out[0] or (w == out[0] and start < out[1]):
                out = (w, start)
        return out

    def settle_before(self, floor_ms: int) -> None:
        for start in [s for s in self.open if s < floor_ms]:
            w = self.open.pop(start)
            if self.settled is None or w > self.settled[0]:
                self.settled = (w, start)


@dataclass
class SitePeakHistory:
    """One site's monthly peaks, its meters' peaks, and what was last emitted."""

    #: Month -> (peak W, start ms of its quarter-hour).
    months: dict[str, tuple[float, int]] = field(default_factory=dict)
    #: ``station|evse|transaction`` -> that meter's peaks.
    meters: dict[str, _MeterPeak] = field(default_factory=dict)
    #: Record key -> (revision, the record's figures) last emitted.
    emitted: dict[str, tuple[int, tuple[Any, ...]]] = field(default_factory=dict)
    newest_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "months": {m: list(v) for m, v in self.months.items()},
            "meters": {
                k: {"open": [[s, w] for s, w in m.open.items()], "settled": m.settled}
                for k, m in self.meters.items()
            },
            "emitted": {k: [r, list(f)] for k, (r, f) in self.emitted.items()},
            "newest_ms": self.newest_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SitePeakHistory:
        """The state of a ``to_dict`` snapshot."""
        meters = {
            k: _MeterPeak(
                {int(s): w for s, w in m["open"]},
                tuple(m["settled"]) if m["settled"] is not None else None,
            )
            for k, m in data["meters"].items()
        }
        return cls(
            {m: (v[0], int(v[1])) for m, v in data["months"].items()},
            meters,
            {k: (r, tuple(f)) for k, (r, f) in data["emitted"].items()},
            data["newest_ms"],
        )


def _meter_key(load: EvseQuarterHourLoad) -> str:
    evse = "" if load.evse_id is None else str(load.evse_id)
    return f"{load.station_id}|{evse}|{load.transaction_id or ''}"


class PeakHistory:
    """Highest peaks ever (site, EVSE) and capacity-tariff figures, keyed by site."""

    name = "peak_history"

    def __init__(self, config: PeakHistoryConfig) -> None:
        """Use ``config``'s default regime and lateness."""
        self.config = config
        self._lateness_ms = config.lateness // timedelta(milliseconds=1)

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[MeterSample],
        context: BatchContext,
    ) -> ComputationStep:
        """Fold the batch's monthly peaks and meter loads in; emit what changed."""
        changed: set[str] = set()
        months: dict[str, set[str]] = {}
        meters: dict[str, set[str]] = {}
        for record in context.upstream:
            if isinstance(record, Peak):
                state = self._state(states, record.site_id)
                state.months[record.month] = (record.peak_w, to_epoch_ms(record.interval_start))
                months.setdefault(record.site_id, set()).add(record.month)
            elif isinstance(record, EvseQuarterHourLoad):
                state = self._state(states, record.site_id)
                key = _meter_key(record)
                start = to_epoch_ms(record.interval_start)
                meter = state.meters.setdefault(key, _MeterPeak())
                meter.open[start] = record.avg_import_w  # a revision replaces its quarter
                state.newest_ms = max(state.newest_ms or start, start)
                meters.setdefault(record.site_id, set()).add(key)
        out: list[Record] = []
        for site_id in months.keys() | meters.keys():
            state = states[site_id]
            changed.add(site_id)
            out += self._site_records(site_id, state, months.get(site_id, set()), context)
            for key in meters.get(site_id, set()):
                out += self._meter_record(site_id, key, state, context)
            if state.newest_ms is not None:
                for meter in state.meters.values():
                    meter.settle_before(state.newest_ms - self._lateness_ms)
        return ComputationStep(out, changed, {"peak_history": len(out)})

    @staticmethod
    def _state(states: MutableMapping[str, Any], site_id: str) -> SitePeakHistory:
        state = states.get(site_id)
        if state is None:
            state = states[site_id] = SitePeakHistory()
        return state

    def _site_records(
        self, site_id: str, state: SitePeakHistory, months: set[str], context: BatchContext
    ) -> list[Record]:
        if not state.months:
            return []
        w, start = max(state.months.values(), key=lambda v: (v[0], -v[1]))
        highest = HighestPeak(
            site_id=site_id,
            peak_w=w,
            interval_start=from_epoch_ms(start),
            revision=0,
            computed_by=COMPUTED_BY,
            as_of=context.as_of,
        )
        out = _emit(state, f"highest:{site_id}", highest)
        info = context.site_info(site_id)
        name = (info.tariff_regime if info is not None else None) or self.config.default_regime
        regime = REGIMES.get(name)
        if regime is None:
            return out
        peaks_w = {m: v[0] for m, v in state.months.items()}
        # A month's peak changes the average of every later month whose window holds it.
        affected = months | {
            later
            for later in state.months
            for m in months
            if m in months_back(later, regime.months)
        }
        for month in sorted(affected):
            billed, average, measured = tariff_figures(peaks_w, month, regime)
            peak = state.months.get(month)
            tariff = CapacityTariff(
                site_id=site_id,
                month=month,
                tariff_regime=name,
                peak_w=peak[0] if peak else 0.0,
                peak_interval_start=from_epoch_ms(peak[1]) if peak else None,
                floor_w=regime.floor_w,
                billed_peak_w=billed,
                months_averaged=regime.months,
                months_measured=measured,
                average_billed_peak_w=average,
                revision=0,
                computed_by=COMPUTED_BY,
                as_of=context.as_of,
            )
            out += _emit(state, f"tariff:{month}", tariff)
        return out

    def _meter_record(
        self, site_id: str, key: str, state: SitePeakHistory, context: BatchContext
    ) -> list[Record]:
        best = state.meters[key].best()
        if best is None:
            return []
        station, evse, transaction = key.split("|")
        highest = HighestPeak(
            site_id=site_id,
            station_id=station,
            evse_id=int(evse) if evse else None,
            transaction_id=transaction or None,
            peak_w=best[0],
            interval_start=from_epoch_ms(best[1]),
            revision=0,
            computed_by=COMPUTED_BY,
            as_of=context.as_of,
        )
        return _emit(state, f"highest:{key}", highest)

    def to_dict(self, state: SitePeakHistory) -> dict[str, Any]:
        """``SitePeakHistory.to_dict``."""
        return state.to_dict()

    def from_dict(self, data: dict[str, Any]) -> SitePeakHistory:
        """``SitePeakHistory.from_dict``."""
        return SitePeakHistory.from_dict(data)

    def newest_ms(self, state: SitePeakHistory) -> int | None:
        """The newest meter quarter-hour seen (None: only monthly peaks so far)."""
        return state.newest_ms


def _emit(state: SitePeakHistory, key: str, record: HighestPeak | CapacityTariff) -> list[Record]:
    """``record`` with its next revision if its figures changed since last emitted, else none."""
    figures = tuple(record.model_dump(exclude={"revision", "as_of"}).values())
    held = state.emitted.get(key)
    if held is not None and held[1] == figures:
        return []
    revision = 0 if held is None else held[0] + 1
    state.emitted[key] = (revision, figures)
    return [record.model_copy(update={"revision": revision})]
