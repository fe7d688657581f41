"""The warehouse's recent figures read back as records: what a late dashboard starts from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gridstream.records import (
    CapacityViolation,
    EvseRating,
    FlexOffer,
    Peak,
    QuarterHourLoad,
    Record,
    StationInfo,
)
from warehouse.recent import SOURCES, recent_records

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
SINCE = T0 - timedelta(days=2)


def violation(start: datetime, state: str) -> CapacityViolation:
    return CapacityViolation(
        violation_id=f"site1:import:{start.isoformat()}", site_id="site1", direction="import",
        state=state, start=start, end=start + timedelta(minutes=30), duration_s=1800.0,
        quarter_hours=2, limit_w=10_000.0, limit_source="contract", tolerance=0.0,
        max_exceedance_w=1_500.0, energy_above_limit_wh=600.0, revision=0, computed_by="t",
        as_of=start,
    )  # fmt: skip


def test_the_latest_revision_of_each_recent_record_comes_back_as_it_was_published(
    data_dir: Path,
    write: Callable[..., Any],
    assignment_factory: Callable[..., Any],
    load_factory: Callable[..., Any],
    peak_factory: Callable[..., Any],
) -> None:
    site = assignment_factory("st1", "site1", name="Depot", contracted_capacity_w=10_000.0,
                              evses=(EvseRating(evse_id=1, rated_power_w=22_000.0),))  # fmt: skip
    boot = StationInfo(station_id="st1", received_at=T0 - timedelta(days=9), source="ocpp1.6",
                       vendor="V", model="M")  # fmt: skip
    offer = FlexOffer(
        offer_id="NORTH|10:00", congestion_area="NORTH", interval_start=T0,
        interval_end=T0 + timedelta(minutes=15), baseline_w=9_000.0, reduce_w=5_000.0,
        increase_w=0.0, sessions=2, sites=1, revision=0, computed_by="t", as_of=T0,
    )  # fmt: skip
    old_closed = violation(T0 - timedelta(days=5), "closed")
    old_open = violation(T0 - timedelta(days=4), "open")
    write([
        site, boot, offer, old_closed, old_open,
        load_factory(T0 - timedelta(days=3), 100.0),  # before since: left out
        load_factory(T0, 1_000.0),
        load_factory(T0, 1_500.0, revision=1),  # the latest revision only
        peak_factory("2026-01", 6_000.0, T0, 2),
    ])  # fmt: skip

    records = recent_records(data_dir, SINCE)

    def of(kind: type[Record]) -> list[Record]:
        return [r for r in records if type(r) is kind]

    assert records[0] == site  # the registry first: evses and all, as published
    assert of(StationInfo) == [boot]  # a boot older than since still names the station
    assert of(QuarterHourLoad) == [load_factory(T0, 1_500.0, revision=1)]  # the latest
    assert of(FlexOffer) == [offer]
    assert of(CapacityViolation) == [old_open]  # still open, however old
    assert of(Peak) == [peak_factory("2026-01", 6_000.0, T0, 2)]


def test_every_source_reads_on_a_warehouse_with_files_of_one_topic_only(
    data_dir: Path, write: Callable[..., Any], assignment_factory: Callable[..., Any]
) -> None:
    # the other views are empty but typed: every SELECT of SOURCES binds
    write([assignment_factory("st1", "site1")])
    assert [type(r) for r in recent_records(data_dir, SINCE)] == [SOURCES[0][0]]


def test_no_warehouse_gives_nothing_and_creates_nothing(tmp_path: Path) -> None:
    assert recent_records(tmp_path / "absent", SINCE) == []
    assert not (tmp_path / "absent").exists()
