"""What the dashboard shows, built from the pipeline's records: a plain, clock-free core.

``Board`` takes the records the dashboard follows (``take``) and answers ``snapshot(now)``,
the JSON the page draws. The figures are the stream's own, never recomputed here:

- per site, today's quarter-hour load (``load.quarter_hour``, latest revision, today in the
  site's time zone), the month's peak so far (``peaks``), the import limit in force now
  (the lowest of the contracted capacity and the DSO limits for the site, its group and its
  area: ``streams.compute.violations.limit_in_force``, as the violation check judges it) and
  the open quarter-hour's projected average (the peak warning's own projection,
  ``streams.compute.peak_alerts``, over the live meter samples);
- the peak alerts of the last hour and the violations still open;
- every station the pipeline heard of (boots and samples) with its last message, online
  when that is at most ``online_within`` old;
- per congestion area, the flexibility on offer for the current settlement period and the
  next (``flex.offers``, latest revision).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gridstream.periods import QUARTER_HOUR_MS, month_of, to_epoch_ms
from gridstream.records import (
    CapacityViolation,
    FlexOffer,
    GridSignal,
    MeterSample,
    Peak,
    PeakAlert,
    QuarterHourLoad,
    Record,
    SiteAssignment,
    StationInfo,
)
from gridstream.registry import SiteRegistry
from streams.compute.computation import BatchContext
from streams.compute.peak_alerts import PeakAlertConfig, PeakAlerts, SiteProjection, open_quarter
from streams.compute.signal_book import SignalBook
from streams.compute.violations import limit_in_force, site_scopes

#: Quarter-hours, alerts and offers older than this are forgotten.
MEMORY = timedelta(days=2)
ALERTS_SHOWN_FOR = timedelta(hours=1)


@dataclass
class _Station:
    site_id: str | None = None
    last_message: datetime | None = None
    vendor: str | None = None
    model: str | None = None


@dataclass
class Board:
    """The dashboard's picture of the pipeline (module docstring)."""

    online_within: timedelta = timedelta(minutes=10)
    registry: SiteRegistry = field(default_factory=SiteRegistry)
    signals: SignalBook = field(default_factory=SignalBook)
    loads: dict[str, dict[int, QuarterHourLoad]] = field(default_factory=dict)
    peaks: dict[str, Peak] = field(default_factory=dict)
    alerts: dict[str, PeakAlert] = field(default_factory=dict)
    violations: dict[str, CapacityViolation] = field(default_factory=dict)
    offers: dict[str, FlexOffer] = field(default_factory=dict)
    stations: dict[str, _Station] = field(default_factory=dict)
    projections: dict[str, Any] = field(default_factory=dict)
    #: Records taken, for the page's "updated" mark.
    taken: int = 0

    def take(self, records: Iterable[Record], now: datetime) -> None:
        """Fold ``records`` in; meter samples move the open quarter-hours' projections."""
        samples: list[MeterSample] = []
        for record in records:
            self.taken += 1
            if isinstance(record, MeterSample):
                samples.append(record)
                self._heard(record.station_id, record.received_at, record.site_id)
            elif isinstance(record, QuarterHourLoad):
                held = self.loads.setdefault(record.site_id, {})
                key = to_epoch_ms(record.interval_start)
                if key not in held or record.revision >= held[key].revision:
                    held[key] = record
            elif isinstance(record, Peak):
                known = self.peaks.get(record.site_id)
                if known is None or (record.month, record.revision) >= (
                    known.month,
                    known.revision,
                ):
                    self.peaks[record.site_id] = record
            elif isinstance(record, PeakAlert):
                self.alerts[record.alert_id] = record
            elif isinstance(record, CapacityViolation):
                known_v = self.violations.get(record.violation_id)
                if known_v is None or record.revision >= known_v.revision:
                    self.violations[record.violation_id] = record
            elif isinstance(record, FlexOffer):
                known_o = self.offers.get(record.offer_id)
                if known_o is None or record.revision >= known_o.revision:
                    self.offers[record.offer_id] = record
            elif isinstance(record, SiteAssignment):
                self.registry.assign(record)
                self.stations.setdefault(record.station_id, _Station()).site_id = record.site_id
            elif isinstance(record, StationInfo):
                station = self._heard(record.station_id, record.received_at, None)
                station.vendor, station.model = record.vendor, record.model
            elif isinstance(record, GridSignal):
                self.signals.add(record)
        if samples:
            self._project(samples, now)
        self._forget_before(now - MEMORY)

    def seed(self, history: Iterable[Record], now: datetime) -> None:
        """Fold in ``history`` (the warehouse's latest figures) as older than anything live.

        Revisions count per broker epoch: a restarted broker's worker publishes revision 0
        of a quarter-hour the warehouse holds at revision 3 from the epoch before, and the
        newer figure is the right one. Seeded records therefore take revision -1, so the
        first live record of the same identity replaces them whatever its revision.
        """
        self.take((_before_live(r) for r in history), now)

    def snapshot(self, now: datetime) -> dict[str, Any]:
        """The page's JSON: sites, alerts, open violations, stations, flexibility."""
        return {
            "as_of": now.isoformat(),
            "records": self.taken,
            "sites": [self._site(site, now) for site in sorted(self._sites())],
            "alerts": [
                _alert(a)
                for a in sorted(self.alerts.values(), key=lambda a: a.reading_ts, reverse=True)
                if a.reading_ts >= now - ALERTS_SHOWN_FOR
            ],
            "violations": [
                _violation(v)
                for v in sorted(self.violations.values(), key=lambda v: v.start)
                if v.state == "open"
            ],
            "stations": [
                self._station(station_id, s, now) for station_id, s in sorted(self.stations.items())
            ],
            "flexibility": self._flexibility(now),
        }

    def _heard(self, station_id: str, at: datetime, site_id: str | None) -> _Station:
        station = self.stations.setdefault(station_id, _Station())
        if station.last_message is None or at > station.last_message:
            station.last_message = at
        if site_id is not None:
            station.site_id = site_id
        return station

    def _project(self, samples: list[MeterSample], now: datetime) -> None:
        context = BatchContext.of_registry(now, self.registry)
        # The projection is the peak warning's; its alerts are the worker's to send.
        PeakAlerts(PeakAlertConfig()).process(self.projections, samples, context)

    def _sites(self) -> set[str]:
        return (
            set(self.loads)
            | set(self.peaks)
            | set(self.projections)
            | {s.site_id for s in self.stations.values() if s.site_id is not None}
        )

    def _site(self, site_id: str, now: datetime) -> dict[str, Any]:
        zone = self.registry.timezone_of(site_id)
        info = self.registry.site_info(site_id)
        day_start = _local_midnight(now, zone)
        loads = sorted(
            (t, load.avg_import_w)
            for t, load in self.loads.get(site_id, {}).items()
            if t >= to_epoch_ms(day_start)
        )
        peak = self.peaks.get(site_id)
        month = month_of(now, zone)
        now_ms = to_epoch_ms(now)
        quarter = now_ms - now_ms % QUARTER_HOUR_MS
        limit = limit_in_force(self.signals, site_scopes(site_id, info), info, "import", quarter)
        projection = self.projections.get(site_id)
        open_figures = open_quarter(projection) if isinstance(projection, SiteProjection) else None
        if open_figures is not None and open_figures[0] != quarter:
            # The projection moves with readings only: a site gone quiet (or not heard
            # since the boundary) has no open quarter-hour to show, not an old one.
            open_figures = None
        return {
            "site_id": site_id,
            "name": info.name if info is not None else None,
            "congestion_area": info.congestion_area if info is not None else None,
            "day_start": to_epoch_ms(day_start),
            "quarter_hours": [[t, round(w, 1)] for t, w in loads],
            "month_peak_w": peak.peak_w if peak is not None and peak.month == month else None,
            "limit_w": limit.value_w if limit is not None else None,
            "limit_source": limit.source if limit is not None else None,
            "open": (
                None
                if open_figures is None
                else {
                    "start": open_figures[0],
                    "energy_wh": round(open_figures[1], 1),
                    "projected_w": round(open_figures[2], 1),
                }
            ),
        }

    def _station(self, station_id: str, s: _Station, now: datetime) -> dict[str, Any]:
        last = s.last_message
        return {
            "station_id": station_id,
            "site_id": s.site_id,
            "vendor": s.vendor,
            "model": s.model,
            "last_message": last.isoformat() if last is not None else None,
            "online": last is not None and now - last <= self.online_within,
        }

    def _flexibility(self, now: datetime) -> list[dict[str, Any]]:
        now_ms = to_epoch_ms(now)
        current = now_ms - now_ms % QUARTER_HOUR_MS
        shown = (current, current + QUARTER_HOUR_MS)
        rows = [
            o for o in self.offers.values() if to_epoch_ms(o.interval_start) in shown
        ]  # fmt: skip
        return [
            {
                "congestion_area": o.congestion_area,
                "interval_start": o.interval_start.isoformat(),
                "baseline_w": o.baseline_w,
                "reduce_w": o.reduce_w,
                "increase_w": o.increase_w,
                "sessions": o.sessions,
                "sites": o.sites,
            }
            for o in sorted(rows, key=lambda o: (o.congestion_area, o.interval_start))
        ]

    def _forget_before(self, cutoff: datetime) -> None:
        floor = to_epoch_ms(cutoff)
        for held in self.loads.values():
            for t in [t for t in held if t < floor]:
                del held[t]
        _drop(self.alerts, lambda a: a.reading_ts < cutoff)
        _drop(self.offers, lambda o: o.interval_end < cutoff)
        _drop(self.violations, lambda v: v.state != "open" and v.end < cutoff)


def _before_live(record: Record) -> Record:
    if "revision" in type(record).model_fields:
        return record.model_copy(update={"revision": -1})
    return record


def _drop(held: dict[str, Any], old: Callable[[Any], bool]) -> None:
    for key in [k for k, v in held.items() if old(v)]:
        del held[key]


def _local_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone)


def _alert(a: PeakAlert) -> dict[str, Any]:
    return {
        "site_id": a.site_id,
        "interval_start": a.interval_start.isoformat(),
        "projected_w": a.projected_w,
        "crossed": a.crossed,
        "crossed_w": a.crossed_w,
        "reading_ts": a.reading_ts.isoformat(),
    }


def _violation(v: CapacityViolation) -> dict[str, Any]:
    return {
        "site_id": v.site_id,
        "direction": v.direction,
        "start": v.start.isoformat(),
        "limit_w": v.limit_w,
        "limit_source": v.limit_source,
        "max_exceedance_w": v.max_exceedance_w,
        "energy_above_limit_wh": v.energy_above_limit_wh,
        "quarter_hours": v.quarter_hours,
    }
