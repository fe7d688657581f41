"""Factories for the compute tests: times on one day, readings, samples, configs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from gridstream.records import MeterSample, Reading
from streams.compute import QuarterHourConfig, SiteConfig

DAY = datetime(2026, 1, 15, tzinfo=UTC)


def at(hhmmss: str, day: datetime = DAY) -> datetime:
    """``"10:07:30"`` on the test day, UTC."""
    parts = [int(p) for p in hhmmss.split(":")]
    h, m, s = (parts + [0, 0])[:3]
    return day + timedelta(hours=h, minutes=m, seconds=s)


IMPORT = "Energy.Active.Import.Register"
EXPORT = "Energy.Active.Export.Register"


@pytest.fixture
def qh_config() -> QuarterHourConfig:
    """Readings at most 5 min apart are measured; 1 h of lateness."""
    return QuarterHourConfig(max_gap=timedelta(minutes=5), allowed_lateness=timedelta(hours=1))


@pytest.fixture
def site_config(qh_config: QuarterHourConfig) -> SiteConfig:
    """The site chain over ``qh_config``, remembering 1 day."""
    return SiteConfig(quarter_hour=qh_config, site_memory=timedelta(days=1))


@pytest.fixture
def reading_factory() -> Callable[..., Reading]:
    """``reading(value, measurand=IMPORT, phase=None, ...)``: a Wh register reading."""

    def make(value: float, measurand: str = IMPORT, **fields: object) -> Reading:
        return Reading(measurand=measurand, value=value, unit=fields.pop("unit", "Wh"), **fields)

    return make


@pytest.fixture
def sample_factory(reading_factory: Callable[..., Reading]) -> Callable[..., MeterSample]:
    """``sample("10:05", import_wh=..., export_wh=..., readings=..., evse_id=1, ...)``."""

    def make(
        ts: str | datetime,
        import_wh: float | None = None,
        export_wh: float | None = None,
        *,
        readings: tuple[Reading, ...] = (),
        station_id: str = "CS1",
        evse_id: int | None = 1,
        site_id: str = "SITE1",
        transaction_id: str | None = None,
    ) -> MeterSample:
        when = at(ts) if isinstance(ts, str) else ts
        extra = []
        if import_wh is not None:
            extra.append(reading_factory(import_wh))
        if export_wh is not None:
            extra.append(reading_factory(export_wh, EXPORT))
        return MeterSample(
            ts=when,
            station_id=station_id,
            site_id=site_id,
            evse_id=evse_id,
            transaction_id=transaction_id,
            source="ocpp2.0.1",
            received_at=when,
            readings=(*readings, *extra),
        )

    return make
