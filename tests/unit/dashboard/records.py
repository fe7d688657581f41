"""Records the dashboard's tests feed it (the unit tests and the browser test share them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridstream.records import MeterSample, QuarterHourLoad, Reading

NOW = datetime(2026, 12, 4, 10, 7, 30, tzinfo=UTC)  # 11:07 in Brussels
Q = timedelta(minutes=15)


def load(start: datetime, avg_w: float, revision: int = 0) -> QuarterHourLoad:
    """Site S1's quarter-hour from ``start`` at ``avg_w`` on average, fully measured."""
    return QuarterHourLoad(
        site_id="S1", interval_start=start, import_wh=avg_w / 4, export_wh=0.0,
        avg_import_w=avg_w, avg_export_w=0.0, meters=1, completeness=1.0, estimated=False,
        revision=revision, computed_by="test", as_of=NOW,
    )  # fmt: skip


def register(ts: datetime, wh: float) -> MeterSample:
    """Station ST1's import register reading ``wh`` at ``ts``, received 2 s later."""
    return MeterSample(
        ts=ts, station_id="ST1", site_id="S1", evse_id=1, source="ocpp2.0.1",
        received_at=ts + timedelta(seconds=2),
        readings=(Reading(measurand="Energy.Active.Import.Register", value=wh, unit="Wh"),),
    )  # fmt: skip


def at(hour: int, minute: int, day: int = 4) -> datetime:
    """An instant of December 2026, in UTC."""
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)
