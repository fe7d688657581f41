"""A topic's Delta table: columns a record model gains reach the readers of the Delta log."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.table import TopicTable, Written


def write(folder: Path, name: str, table: pa.Table) -> Written:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return Written(folder / name, folder.name.removeprefix("date="), table.num_rows)


def test_a_column_the_record_model_gained_is_added_to_the_table_for_every_reader(
    tmp_path: Path,
) -> None:
    root = tmp_path / "meter.samples"
    day = root / "date=2026-01-15"
    old = pa.schema([pa.field("station_id", pa.string())])
    TopicTable(root, old).commit(
        [write(day, "a.parquet", pa.table({"station_id": ["A"]}))], "e", 0, 0
    )
    # A release later the model has charging_profile_id: the sink opens the table with it.
    new = pa.schema([*old, pa.field("charging_profile_id", pa.string())])
    rows = pa.table({"station_id": ["B"], "charging_profile_id": ["cp-1"]})
    TopicTable(root, new).commit([write(day, "b.parquet", rows)], "e", 0, 1)
    got = pl.read_delta(str(root)).sort("station_id")
    assert got.select("station_id", "charging_profile_id").rows() == [("A", None), ("B", "cp-1")]
