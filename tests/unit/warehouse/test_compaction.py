"""Compaction merges a table's small files and the retention drops old days, rows intact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gridstream import topics
from gridstream.records import MeterSample
from warehouse.compaction import compact_warehouse
from warehouse.query import run_query
from warehouse.sink import ParquetSink

TOPIC = topics.METER_SAMPLES.name
DAY_1 = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
DAY_2 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def flushes(sink: ParquetSink, factory: Callable[..., MeterSample], start: datetime,
            first: int, count: int) -> None:  # fmt: skip
    for offset in range(first, first + count):  # one file per flush
        sample = factory(ts=start + timedelta(minutes=offset))
        sink.add(TOPIC, 0, offset, sample.to_json())
        sink.flush()


def test_compaction_merges_the_files_and_the_retention_drops_the_old_days(
    data_dir: Path, sample_factory: Callable[..., MeterSample]
) -> None:
    sink = ParquetSink(data_dir, "e1")
    flushes(sink, sample_factory, DAY_1, 0, 3)
    flushes(sink, sample_factory, DAY_2, 3, 4)
    assert run_query(data_dir, "SELECT count(*) FROM meter_samples")[1] == [(7,)]

    done = compact_warehouse(data_dir, date(2026, 1, 16), {TOPIC: 1})
    [samples] = [d for d in done if d.topic == TOPIC]
    # 7 one-row files; the 14th is past one day of retention; the 15th's four become one
    assert (samples.files_before, samples.rows_expired, samples.files_after) == (7, 3, 1)
    assert samples.files_deleted == 0  # unreferenced files stay a day for readers
    _, rows = run_query(data_dir, "SELECT min(ts), count(*) FROM meter_samples")
    assert rows == [(DAY_2 + timedelta(minutes=3), 4)]

    sink.add(TOPIC, 0, 7, sample_factory(ts=DAY_2 + timedelta(hours=1)).to_json())
    sink.flush()  # the sink goes on writing into the compacted table
    assert run_query(data_dir, "SELECT count(*) FROM meter_samples")[1] == [(5,)]


def test_a_retention_for_a_topic_the_catalog_does_not_have_is_refused(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="retention for unknown topic"):
        compact_warehouse(data_dir, date(2026, 1, 16), {"meter.sample": 30})
