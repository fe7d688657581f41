"""``python -m bench.table_format``: Delta Lake vs Iceberg as the warehouse's table format.

Issue 17, item 1 asks for a table format whose commits every reader sees the same way, and
for the Kafka offsets a batch covers to be committed with it. Both candidates are measured
here in one run, on the same ``meter.samples`` rows (the sink's own decoder), as the sink
would use them: one commit per flush, carrying the offsets.

1. baseline: ``pyarrow.parquet.write_table`` of each batch (zstd): the floor.
2. delta: ``deltalake.write_deltalake(mode="append")`` per batch with an app transaction
   (``CommitProperties(app_transactions=[Transaction(app_id, last_offset)])``).
3. iceberg: ``pyiceberg`` with a SQLite catalog, ``table.append(batch,
   snapshot_properties={...offsets...})`` per batch (``pip install 'pyiceberg[sql-sqlite]'``
   first: Iceberg is measured here, not used).

Reported as rows/s, the ratio to the baseline, and the time per commit (ms); then the cost
of reading the last committed offset back (what the sink does on every assignment).
Last, what compaction buys: a DuckDB aggregate over the ``meter_samples`` base view after
many small sink commits, before and after ``warehouse.compaction.compact``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.sink import _values
from gridstream import topics
from warehouse.schemas import records_to_table

TOPIC = topics.METER_SAMPLES.name


def _batches(batches: int, rows: int) -> list[pa.Table]:
    values = _values(batches * rows)
    return [records_to_table(TOPIC, values[i * rows : (i + 1) * rows]) for i in range(batches)]


def _plain(tables: list[pa.Table], root: Path) -> float:
    root.mkdir()
    began = time.perf_counter()
    for i, table in enumerate(tables):
        pq.write_table(table, root / f"{i}.parquet", compression="zstd")
    return time.perf_counter() - began


def _delta(tables: list[pa.Table], root: Path) -> tuple[float, float]:
    from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

    began = time.perf_counter()
    for i, table in enumerate(tables):
        write_deltalake(
            root,
            table,
            mode="append",
            commit_properties=CommitProperties(
                app_transactions=[Transaction(f"bench:{TOPIC}:0", (i + 1) * table.num_rows - 1)]
            ),
        )
    elapsed = time.perf_counter() - began
    began = time.perf_counter()
    assert DeltaTable(root).transaction_version(f"bench:{TOPIC}:0") is not None
    return elapsed, time.perf_counter() - began


def _iceberg(tables: list[pa.Table], root: Path) -> tuple[float, float]:
    from pyiceberg.catalog.sql import SqlCatalog

    root.mkdir()
    catalog = SqlCatalog(
        "bench", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}/warehouse"
    )
    catalog.create_namespace("gridstream")
    # Iceberg has no nanosecond timestamps before format v3: store microseconds.
    schema = pa.schema(
        [
            f.with_type(pa.timestamp("us", "UTC")) if pa.types.is_timestamp(f.type) else f
            for f in tables[0].schema
        ]
    )
    table: Any = catalog.create_table("gridstream.samples", schema=schema)
    began = time.perf_counter()
    for i, batch in enumerate(tables):
        table.append(
            batch.cast(schema),
            snapshot_properties={f"offset:{TOPIC}:0": str((i + 1) * batch.num_rows - 1)},
        )
    elapsed = time.perf_counter() - began
    began = time.perf_counter()
    loaded: Any = catalog.load_table("gridstream.samples")
    assert loaded.current_snapshot().summary[f"offset:{TOPIC}:0"]
    return elapsed, time.perf_counter() - began


def measure(batches: int = 200, rows: int = 2_000) -> dict[str, float]:
    """Rows/s and seconds per commit of each format over ``batches`` of ``rows`` rows."""
    tables = _batches(batches, rows)
    total = batches * rows
    with tempfile.TemporaryDirectory() as tmp:
        plain = _plain(tables, Path(tmp) / "plain")
        delta, delta_read = _delta(tables, Path(tmp) / "delta")
        iceberg, iceberg_read = _iceberg(tables, Path(tmp) / "iceberg")
    return {
        "rows": float(total),
        "batches": float(batches),
        "plain_rows_per_s": total / plain,
        "delta_rows_per_s": total / delta,
        "iceberg_rows_per_s": total / iceberg,
        "plain_ms_per_batch": plain / batches * 1000,
        "delta_ms_per_commit": delta / batches * 1000,
        "iceberg_ms_per_commit": iceberg / batches * 1000,
        "delta_read_offsets_ms": delta_read * 1000,
        "iceberg_read_offsets_ms": iceberg_read * 1000,
    }


def measure_compaction(flushes: int = 500, rows: int = 400) -> dict[str, float]:
    """A query over ``flushes`` small sink commits, before and after ``gridstream compact``.

    The sink's own commits (``ParquetSink.flush``) of ``rows`` samples each, then a DuckDB
    aggregate over the ``meter_samples`` view (best of three) before and after compaction.
    """
    from datetime import date

    from warehouse.catalog import base_view_sql, committed_files
    from warehouse.compaction import compact_warehouse
    from warehouse.sink import ParquetSink

    values = _values(flushes * rows)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        sink = ParquetSink(data_dir, "bench-epoch")
        for i in range(flushes):
            for offset in range(i * rows, (i + 1) * rows):
                sink.add(TOPIC, 0, offset, values[offset])
            sink.flush()

        def query() -> tuple[int, float]:
            import duckdb

            best = float("inf")
            for _ in range(3):
                began = time.perf_counter()
                sql = f"SELECT site_id, count(*) FROM ({base_view_sql(data_dir, TOPIC)}) GROUP BY 1"
                with duckdb.connect() as connection:
                    connection.execute(sql).fetchall()
                best = min(best, time.perf_counter() - began)
            return len(committed_files(data_dir, TOPIC)), best

        files_before, before = query()
        began = time.perf_counter()
        compact_warehouse(data_dir, date(2100, 1, 1), {})
        compaction = time.perf_counter() - began
        files_after, after = query()
    return {
        "rows": float(flushes * rows),
        "files_before": float(files_before),
        "files_after": float(files_after),
        "query_before_ms": before * 1000,
        "query_after_ms": after * 1000,
        "compaction_s": compaction,
    }


def report_compaction(r: dict[str, float]) -> str:
    """The query before and after compaction, and what the compaction took."""
    return (
        f"{int(r['rows'])} rows in {int(r['files_before'])} files: query "
        f"{r['query_before_ms']:.0f} ms; compacted in {r['compaction_s']:.1f} s to "
        f"{int(r['files_after'])} files: query {r['query_after_ms']:.0f} ms "
        f"(ratio {r['query_before_ms'] / r['query_after_ms']:.1f})"
    )


def report(r: dict[str, float]) -> str:
    """Each format beside the plain write, with the ratio and the cost per commit."""
    lines = [f"{int(r['batches'])} batches, {int(r['rows'])} meter.samples rows"]
    for name, label in (
        ("plain", "plain pyarrow write"),
        ("delta", "delta-rs append"),
        (
            "iceberg",
            "pyiceberg append (SQLite)",
        ),
    ):
        rate = r[f"{name}_rows_per_s"]
        per = r["plain_ms_per_batch"] if name == "plain" else r[f"{name}_ms_per_commit"]
        lines.append(
            f"{label:27}: {rate:10.0f} rows/s  ratio {rate / r['plain_rows_per_s']:.3f}  "
            f"{per:7.1f} ms per batch"
        )
    lines.append(
        f"read the committed offsets : delta {r['delta_read_offsets_ms']:.1f} ms, "
        f"iceberg {r['iceberg_read_offsets_ms']:.1f} ms (after {int(r['batches'])} commits)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.table_format", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--flushes", type=int, default=500, help="sink commits to compact")
    args = parser.parse_args()
    print(report(measure(args.batches, args.rows)))
    print(report_compaction(measure_compaction(args.flushes)))
