"""Factories for warehouse tests: canonical records with defaults, a sink on tmp_path.

Times default to 2026-01-15 10:00 UTC; the sink epoch to ``gridstream-e1``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gridstream import topics
from gridstream.records import (
    GridSignal,
    MeterSample,
    Peak,
    QuarterHourLoad,
    Reading,
    Record,
    SiteAssignment,
    TransactionEvent,
)
from warehouse.sink import ParquetSink

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
TOPIC_OF: dict[type[Record], str] = {t.record: t.name for t in topics.ALL}
ReadingSpec = tuple[str, float, str, str | None]


@pytest.fixture
def sample_factory() -> Callable[..., MeterSample]:
    """``sample(ts=T0, station_id="st1", site_id="site1", readings=[(measurand, value,
    unit, phase), ...], **fields)``; one import-register reading by default."""

    def make(
        ts: datetime = T0,
        station_id: str = "st1",
        site_id: str = "site1",
        readings: Sequence[ReadingSpec] = (("Energy.Active.Import.Register", 1000.0, "Wh", None),),
        **fields: Any,
    ) -> MeterSample:
        return MeterSample(
            ts=ts,
            station_id=station_id,
            site_id=site_id,
            evse_id=fields.pop("evse_id", 1),
            source=fields.pop("source", "ocpp2.0.1"),
            received_at=fields.pop("received_at", ts),
            readings=tuple(
                Reading(measurand=m, value=v, unit=u, phase=p, context="Sample.Periodic")
                for m, v, u, p in readings
            ),
            **fields,
        )

    return make


@pytest.fixture
def transaction_factory() -> Callable[..., TransactionEvent]:
    """``transaction(event_type, ts, transaction_id="tx1", station_id="st1",
    site_id="site1", **fields)``."""

    def make(
        event_type: str,
        ts: datetime = T0,
        transaction_id: str = "tx1",
        station_id: str = "st1",
        site_id: str = "site1",
        **fields: Any,
    ) -> TransactionEvent:
        return TransactionEvent(
            ts=ts,
            station_id=station_id,
            site_id=site_id,
            transaction_id=transaction_id,
            event_type=event_type,
            source=fields.pop("source", "ocpp1.6"),
            received_at=fields.pop("received_at", ts),
            evse_id=fields.pop("evse_id", 1),
            **fields,
        )

    return make


@pytest.fixture
def load_factory() -> Callable[..., QuarterHourLoad]:
    """``load(interval_start, import_wh, revision=0, site_id="site1", export_wh=0)``;
    average powers are energy / 0.25 h."""

    def make(
        interval_start: datetime,
        import_wh: float,
        revision: int = 0,
        site_id: str = "site1",
        export_wh: float = 0.0,
    ) -> QuarterHourLoad:
        return QuarterHourLoad(
            site_id=site_id,
            interval_start=interval_start,
            import_wh=import_wh,
            export_wh=export_wh,
            avg_import_w=import_wh / 0.25,
            avg_export_w=export_wh / 0.25,
            meters=1,
            completeness=1.0,
            estimated=False,
            revision=revision,
            computed_by="quarter_hour/1",
            as_of=interval_start + timedelta(minutes=15 + revision),
        )

    return make


@pytest.fixture
def peak_factory() -> Callable[..., Peak]:
    """``peak(month, peak_w, interval_start, revision)`` of site1."""

    def make(month: str, peak_w: float, interval_start: datetime, revision: int) -> Peak:
        return Peak(
            site_id="site1",
            month=month,
            peak_w=peak_w,
            interval_start=interval_start,
            revision=revision,
            computed_by="peaks/1",
            as_of=interval_start + timedelta(minutes=15 + revision),
        )

    return make


@pytest.fixture
def signal_factory() -> Callable[..., GridSignal]:
    """``signal(interval_start, value, revision=1, **fields)``: a PT15M day-ahead price
    of bidding zone BE (EUR/MWh) from ENTSO-E, document ``doc-1``."""

    def make(
        interval_start: datetime, value: float, revision: int = 1, **fields: Any
    ) -> GridSignal:
        values: dict[str, Any] = {
            "kind": "day_ahead_price",
            "scope_type": "bidding_zone",
            "scope_id": "10YBE----------2",
            "interval_start": interval_start,
            "interval_end": interval_start + timedelta(minutes=15),
            "resolution": "PT15M",
            "value": value,
            "unit": "EUR/MWh",
            "source": "entsoe",
            "document_id": "doc-1",
            "revision": revision,
            "received_at": interval_start,
        }
        return GridSignal(**(values | fields))

    return make


@pytest.fixture
def assignment_factory() -> Callable[..., SiteAssignment]:
    """``assignment(station_id, site_id, **fields)``: a registry entry."""

    def make(station_id: str, site_id: str, **fields: Any) -> SiteAssignment:
        return SiteAssignment(station_id=station_id, site_id=site_id, **fields)

    return make


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty warehouse directory."""
    return tmp_path / "data"


@pytest.fixture
def write(data_dir: Path) -> Callable[..., ParquetSink]:
    """``write(records, partition=0, first_offset=0, epoch="gridstream-e1")``: through a
    real sink, each record to its catalog topic, offsets counting up per topic; one flush.
    Returns the sink."""

    def _write(
        records: Sequence[Record],
        partition: int = 0,
        first_offset: int = 0,
        epoch: str = "gridstream-e1",
    ) -> ParquetSink:
        sink = ParquetSink(data_dir, epoch)
        next_offset: dict[str, int] = {}
        for record in records:
            topic = TOPIC_OF[type(record)]
            offset = next_offset.get(topic, first_offset)
            sink.add(topic, partition, offset, record.to_json())
            next_offset[topic] = offset + 1
        sink.flush()
        return sink

    return _write


@pytest.fixture
def files_of(data_dir: Path) -> Callable[[str], list[str]]:
    """``files_of(topic)``: its Parquet files relative to its folder, sorted."""

    def _files(topic: str) -> list[str]:
        root = data_dir / "parquet" / topic
        return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))

    return _files


@pytest.fixture
def rows_of(data_dir: Path) -> Callable[[str], pa.Table]:
    """``rows_of(topic)``: every row of every file, sorted by epoch, partition, offset."""

    def _rows(topic: str) -> pa.Table:
        paths = sorted((data_dir / "parquet" / topic).rglob("*.parquet"))
        table = pa.concat_tables([pq.read_table(p) for p in paths])
        return table.sort_by(
            [("_epoch", "ascending"), ("_partition", "ascending"), ("_offset", "ascending")]
        )

    return _rows
