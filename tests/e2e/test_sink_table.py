"""The warehouse as Delta tables: a sink killed with SIGKILL at any point and restarted leaves
every record in the table once, for DuckDB, polars and pyarrow alike; compaction never
shows a reader a row twice or misses one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

from gridstream import topics
from gridstream.broker import EmbeddedBroker, ensure_topics
from tests.e2e.test_sink_broker import produce
from warehouse import layout
from warehouse.schemas import topic_schema
from warehouse.table import TopicTable, app_id

pytestmark = pytest.mark.e2e

TOPIC = topics.METER_SAMPLES.name
RECORDS = 400


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        ensure_topics(running.bootstrap)
        yield running


#: ``gridstream sink`` itself, killed with SIGKILL at a chosen point of its first flush.
KILLER = """
import os, signal, sys
import warehouse.table
from gridstream.cli import main

point = sys.argv[1]
def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "after_rename":  # files renamed, the table commit not made
    warehouse.table.TopicTable.commit = lambda *a: die()
elif point == "after_commit":  # committed, Kafka offsets not committed
    commit = warehouse.table.TopicTable.commit
    def commit_then_die(*a):
        commit(*a)
        die()
    warehouse.table.TopicTable.commit = commit_then_die
sys.exit(main(["sink"]))
"""


def run_sink(broker: EmbeddedBroker, data_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GRIDSTREAM_KAFKA_BOOTSTRAP": broker.bootstrap,
        "GRIDSTREAM_DATA_DIR": str(data_dir),
        "GRIDSTREAM_SINK_FLUSH_INTERVAL_S": "0.2",
    }
    return subprocess.Popen(
        [sys.executable, "-c", KILLER, *args], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def written(root: Path, epoch: str) -> dict[int, int]:
    if not DeltaTable.is_deltatable(str(root)):
        return {}
    table = DeltaTable(str(root))
    found = {p: table.transaction_version(app_id(epoch, p)) for p in range(4)}
    return {p: v for p, v in found.items() if v is not None}


def test_a_sink_killed_at_any_point_leaves_every_record_once_for_every_reader(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    root = layout.topic_dir(tmp_path, TOPIC)
    acked: dict[tuple[str, int], int] = {}
    # (Killed after writing only its temporary files, it leaves nothing: the rename is the
    # first step anything else could see, so the points after it are the ones tried.)
    for point in ("after_rename", "after_commit"):
        acked.update(asyncio.run(produce(broker.bootstrap, len(acked) * 0 + sum(
            last + 1 for last in acked.values()), RECORDS)))  # fmt: skip
        sink = run_sink(broker, tmp_path, point)
        assert sink.wait(timeout=60) == -signal.SIGKILL, point  # it died where it was told
    sink = run_sink(broker, tmp_path, "never")
    try:
        deadline = time.monotonic() + 60
        while written(root, broker.cluster_id) != {p: o for (_, p), o in acked.items()}:
            assert time.monotonic() < deadline, f"not caught up: {written(root, broker.cluster_id)}"
            time.sleep(0.1)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=30)

    total = sum(last + 1 for last in acked.values())
    files = TopicTable(root, topic_schema(TOPIC)).files()
    orphans = set(map(str, root.glob("date=*/*.parquet"))) - set(files)
    [in_duckdb] = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (_partition, _offset)) FROM read_parquet({files!r})"
    ).fetchall()
    in_polars = pl.read_delta(str(root)).select(["_partition", "_offset"])
    in_pyarrow = DeltaTable(str(root)).to_pyarrow_table(columns=["_partition", "_offset"])
    keys = zip(in_pyarrow["_partition"].to_pylist(), in_pyarrow["_offset"].to_pylist(), strict=True)
    assert in_duckdb == (total, total)
    assert (in_polars.height, in_polars.unique().height) == (total, total)
    assert (in_pyarrow.num_rows, len(set(keys))) == (total, total)
    assert orphans  # the files renamed before the kill: on disk, in no version, unseen


def test_readers_never_see_a_row_twice_or_miss_one_while_the_table_is_compacted(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    from tests.e2e.test_sink_broker import sink_until_caught_up
    from warehouse.sink import ParquetSink

    acked = asyncio.run(produce(broker.bootstrap, 0, 600))
    sink = ParquetSink(tmp_path, broker.cluster_id)
    asyncio.run(sink_until_caught_up(broker.bootstrap, "compact-test", sink, acked))
    table = sink.table(TOPIC)
    before = len(table.files())
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            rows = DeltaTable(str(table.root)).to_pyarrow_table(columns=["_partition", "_offset"])
            keys = zip(rows["_partition"].to_pylist(), rows["_offset"].to_pylist(), strict=True)
            seen.append((rows.num_rows, len(set(keys))))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        metrics = table.compact()
        for _ in range(3):  # readers still going after the compaction's commit
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join()
    assert before > 1 and len(table.files()) < before
    assert metrics["numFilesRemoved"] == before
    everything = sum(last + 1 for last in acked.values())  # the topic holds earlier tests' too
    assert seen and all(s == (everything, everything) for s in seen)
