"""The warehouse sink against the embedded broker: group join, commits, exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaProducer

from gridstream import topics
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.records import MeterSample, Reading
from warehouse.query import run_query
from warehouse.sink import ParquetSink, make_sink_consumer, run_sink

pytestmark = [
    pytest.mark.e2e,
    # kafka-python (topic setup) reads its protocol schemas with a deprecated importlib call.
    pytest.mark.filterwarnings("ignore:(read_text|open_text) is deprecated:DeprecationWarning"),
]

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
TOPIC = topics.METER_SAMPLES.name


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded broker with the catalog's topics for the module."""
    with EmbeddedBroker() as running:
        ensure_topics(running.bootstrap)
        yield running


async def produce(bootstrap: str, first: int, count: int) -> dict[tuple[str, int], int]:
    """``count`` samples of 8 sites; the highest acknowledged offset per partition."""
    acked: dict[tuple[str, int], int] = {}
    async with AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all") as producer:
        futures = []
        for i in range(first, first + count):
            record = MeterSample(
                ts=T0 + timedelta(seconds=i),
                station_id=f"st{i % 16}",
                site_id=f"site{i % 8}",
                source="simulator",
                received_at=T0 + timedelta(seconds=i),
                readings=(Reading(measurand="Voltage", value=230.0 + i % 3, unit="V"),),
            )
            futures.append(
                await producer.send(TOPIC, record.to_json(), key=record.site_id.encode())
            )
        for meta in await asyncio.gather(*futures):
            key = (meta.topic, meta.partition)
            acked[key] = max(acked.get(key, -1), meta.offset)
    return acked


async def sink_until_caught_up(
    bootstrap: str, group_id: str, sink: ParquetSink, acked: dict[tuple[str, int], int]
) -> None:
    """Run the sink in ``group_id`` until it has flushed every acknowledged offset."""
    consumer = make_sink_consumer(bootstrap, group_id, [TOPIC], sink)
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(consumer, sink, 0.2, stop))
    try:
        async with asyncio.timeout(60):
            while not all(sink.flushed_offsets().get(k, 0) > v for k, v in acked.items()):
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
        await consumer.stop()


def offsets_in_files(data_dir: Path) -> list[tuple[int, int]]:
    rows: list[tuple[int, int]] = []
    for path in (data_dir / "parquet" / TOPIC).rglob("*.parquet"):
        table = pq.read_table(path, columns=["_partition", "_offset"])
        rows += zip(table["_partition"].to_pylist(), table["_offset"].to_pylist(), strict=True)
    return sorted(rows)


async def test_sink_writes_every_record_once_across_a_restart_without_commits(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    epoch, group = broker.cluster_id, f"sink-{uuid.uuid4().hex}"
    acked = await produce(broker.bootstrap, 0, 200)
    first = ParquetSink(tmp_path, epoch)
    await sink_until_caught_up(broker.bootstrap, group, first, acked)
    assert first.stats().rows_written == {TOPIC: 200}

    # A new group has no committed offsets, as after a crash between write and commit:
    # the sink seeks past its files, and only the 100 new records are read and written.
    acked = await produce(broker.bootstrap, 200, 100)
    restarted = ParquetSink(tmp_path, epoch)
    await sink_until_caught_up(broker.bootstrap, f"sink-{uuid.uuid4().hex}", restarted, acked)
    assert restarted.stats().rows_written == {TOPIC: 100}
    assert restarted.stats().duplicates_skipped == {}  # the seek, not the skip, did it

    # The first group again: its committed offsets say 200, the files say 300.
    acked = await produce(broker.bootstrap, 300, 50)
    again = ParquetSink(tmp_path, epoch)
    await sink_until_caught_up(broker.bootstrap, group, again, acked)
    assert (again.stats().rows_written, again.stats().duplicates_skipped) == ({TOPIC: 50}, {})

    in_files = offsets_in_files(tmp_path)
    assert len(in_files) == len(set(in_files)) == 350
    assert run_query(tmp_path, "SELECT count(*) FROM meter_readings")[1] == [(350,)]
