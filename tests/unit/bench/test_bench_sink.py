"""The sink bench writes the same rows both ways: what it compares is like for like."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from bench.sink import TOPIC, _values
from warehouse.schemas import records_to_table
from warehouse.sink import ParquetSink


def test_the_sink_and_the_plain_write_store_the_same_rows(tmp_path: Path) -> None:
    values = _values(300, sites=7)
    plain = records_to_table(TOPIC, values)
    sink = ParquetSink(tmp_path, "bench-epoch")
    for offset, value in enumerate(values):
        sink.add(TOPIC, 0, offset, value)
    sink.flush()
    stored = pq.read_table(sorted(tmp_path.rglob("*.parquet")))
    assert stored.num_rows == plain.num_rows == 300
    order = [("ts", "ascending"), ("site_id", "ascending")]
    assert stored.select(plain.column_names).sort_by(order).to_pylist() == (
        plain.sort_by(order).to_pylist()
    )
