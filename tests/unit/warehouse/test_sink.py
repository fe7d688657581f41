"""ParquetSink: partitioned files named by offsets, exactly once across restarts and epochs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gridstream.records import DeadLetter, MeterSample
from warehouse.sink import ParquetSink
from warehouse.table import TopicTable

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
E1 = "gridstream-e1"
TOPIC = "meter.samples"
SampleFactory = Callable[..., MeterSample]
Files = Callable[[str], list[str]]
Rows = Callable[[str], pa.Table]


def name(first: int, last: int, partition: int = 0, epoch: str = E1) -> str:
    return f"{epoch}-{partition}-{first:019d}-{last:019d}.parquet"


def add_samples(
    sink: ParquetSink,
    sample_factory: SampleFactory,
    offsets: range,
    partition: int = 0,
    start: datetime = T0,
) -> None:
    """One sample per offset, a minute apart from ``start``."""
    for offset in offsets:
        value = sample_factory(ts=start + timedelta(minutes=offset)).to_json()
        sink.add(TOPIC, partition, offset, value)


def test_flush_writes_one_file_per_partition_and_returns_the_offsets_to_commit(
    data_dir: Path, sample_factory: SampleFactory, files_of: Files, rows_of: Rows
) -> None:
    sink = ParquetSink(data_dir, E1)
    add_samples(sink, sample_factory, range(0, 3), partition=0)
    add_samples(sink, sample_factory, range(5, 7), partition=1)

    commits = sink.flush()

    assert commits == {(TOPIC, 0): 3, (TOPIC, 1): 7}  # next offset to read = last + 1
    assert files_of(TOPIC) == [
        f"date=2026-01-15/{name(0, 2, partition=0)}",
        f"date=2026-01-15/{name(5, 6, partition=1)}",
    ]
    rows = rows_of(TOPIC)
    assert rows.column("_partition").to_pylist() == [0, 0, 0, 1, 1]
    assert rows.column("_offset").to_pylist() == [0, 1, 2, 5, 6]
    assert set(rows.column("_epoch").to_pylist()) == {E1}
    assert sink.stats().rows_written == {TOPIC: 5}
    assert sink.buffered == 0


def test_files_keep_the_topic_schema(
    data_dir: Path, sample_factory: SampleFactory, files_of: Files
) -> None:
    from warehouse.schemas import topic_schema

    sink = ParquetSink(data_dir, E1)
    add_samples(sink, sample_factory, range(1))
    sink.flush()
    path = data_dir / "parquet" / TOPIC / files_of(TOPIC)[0]
    assert pq.read_schema(path).remove_metadata() == topic_schema(TOPIC).remove_metadata()


def test_a_batch_across_midnight_is_one_file_per_utc_date_with_the_same_name(
    data_dir: Path, sample_factory: SampleFactory, files_of: Files
) -> None:
    sink = ParquetSink(data_dir, E1)
    # 23:58, 23:59, 00:00 (next day), 00:01: offsets 0-1 on the 15th, 2-3 on the 16th.
    add_samples(sink, sample_factory, range(4), start=datetime(2026, 1, 15, 23, 58, tzinfo=UTC))
    sink.flush()
    assert files_of(TOPIC) == [f"date=2026-01-15/{name(0, 3)}", f"date=2026-01-16/{name(0, 3)}"]
    day1 = pq.read_table(data_dir / "parquet" / TOPIC / files_of(TOPIC)[0])
    assert day1.column("_offset").to_pylist() == [0, 1]
    assert (
        pq.read_metadata(data_dir / "parquet" / TOPIC / files_of(TOPIC)[0]).metadata[
            b"gridstream.batch_files"
        ]
        == b"2"
    )


def test_each_topic_is_dated_by_its_own_event_time(
    data_dir: Path,
    files_of: Files,
    load_factory: Callable[..., object],
    assignment_factory: Callable[..., object],
    write: Callable[..., ParquetSink],
) -> None:
    letter = DeadLetter(
        source="ocpp",
        reason="bad_value",
        detail="x",
        raw="{}",
        received_at=datetime(2026, 1, 14, 23, 0, tzinfo=UTC),
    )
    write(
        [
            load_factory(datetime(2026, 1, 13, 23, 45, tzinfo=UTC), 100.0),  # interval_start
            letter,  # received_at
            assignment_factory("st1", "site1"),  # no event time
        ]
    )
    assert files_of("load.quarter_hour") == [f"date=2026-01-13/{name(0, 0)}"]
    assert files_of("dlq") == [f"date=2026-01-14/{name(0, 0)}"]
    assert files_of("registry.sites") == [f"date=current/{name(0, 0)}"]


def test_a_restarted_sink_skips_offsets_already_written(
    data_dir: Path, sample_factory: SampleFactory, rows_of: Rows
) -> None:
    first = ParquetSink(data_dir, E1)
    add_samples(first, sample_factory, range(0, 5))
    first.flush()  # crash here: files written, offsets never committed

    restarted = ParquetSink(data_dir, E1)
    assert restarted.resume_offsets() == {(TOPIC, 0): 5}
    add_samples(restarted, sample_factory, range(0, 8))  # the broker redelivers 0..7
    assert restarted.buffered == 3  # only 5, 6, 7
    assert restarted.flush() == {(TOPIC, 0): 8}

    assert rows_of(TOPIC).column("_offset").to_pylist() == list(range(8))  # once each
    assert restarted.stats().duplicates_skipped == {TOPIC: 5}


def test_a_new_epoch_starts_at_nothing_and_never_collides_with_the_old_one(
    data_dir: Path, sample_factory: SampleFactory, files_of: Files, rows_of: Rows
) -> None:
    old = ParquetSink(data_dir, E1)
    add_samples(old, sample_factory, range(0, 3))
    old.flush()

    new = ParquetSink(data_dir, "gridstream-e2")  # the embedded broker restarted
    assert new.resume_offsets() == {}
    add_samples(new, sample_factory, range(0, 2), start=T0 + timedelta(hours=1))
    assert new.buffered == 2  # offset 0 of the new broker is a new record
    new.flush()

    assert files_of(TOPIC) == [
        f"date=2026-01-15/{name(0, 2)}",
        f"date=2026-01-15/{name(0, 1, epoch='gridstream-e2')}",
    ]
    assert rows_of(TOPIC).num_rows == 5


def test_a_batch_written_but_not_committed_is_neither_seen_nor_counted_as_written(
    data_dir: Path, sample_factory: SampleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = ParquetSink(data_dir, E1)
    add_samples(sink, sample_factory, range(0, 2))
    sink.flush()
    # The next batch spans two dates; the sink dies after renaming its files, before the
    # table commit that would have made them part of the warehouse.
    add_samples(sink, sample_factory, range(2, 4), start=datetime(2026, 1, 15, 23, 57, tzinfo=UTC))

    def killed(*args: object) -> None:
        raise SystemExit("killed")

    monkeypatch.setattr(TopicTable, "commit", killed)
    with pytest.raises(SystemExit):
        sink.flush()
    monkeypatch.undo()
    assert (data_dir / "parquet" / TOPIC / f"date=2026-01-16/{name(2, 3)}").exists()

    restarted = ParquetSink(data_dir, E1)
    assert restarted.resume_offsets() == {(TOPIC, 0): 2}  # offsets 2 and 3 are read again
    table = restarted.table(TOPIC)
    assert sorted(Path(f).name for f in table.files()) == [name(0, 1)]  # the orphans: unseen
    add_samples(
        restarted, sample_factory, range(2, 4), start=datetime(2026, 1, 15, 23, 57, tzinfo=UTC)
    )
    restarted.flush()
    rows = pq.read_table(table.files()).column("_offset").to_pylist()
    assert sorted(rows) == [0, 1, 2, 3]  # every record once, for any reader of the table


def test_tombstones_and_rejections_advance_the_commit_without_rows(
    data_dir: Path, sample_factory: SampleFactory, rows_of: Rows
) -> None:
    sink = ParquetSink(data_dir, E1)
    sink.add(TOPIC, 0, 0, sample_factory().to_json())
    sink.add(TOPIC, 0, 1, b'{"not": "a sample"}')
    sink.add(TOPIC, 0, 2, sample_factory().to_json())
    sink.add(TOPIC, 0, 3, None)  # tombstone

    assert sink.flush() == {(TOPIC, 0): 4}

    assert rows_of(TOPIC).column("_offset").to_pylist() == [0, 2]
    [rejection] = sink.take_rejections()
    assert str(rejection).startswith("meter.samples[0]@1: meter.samples: value does not fit")
    assert sink.take_rejections() == []
    stats = sink.stats()
    assert (stats.rejected, stats.tombstones) == ({TOPIC: 1}, {TOPIC: 1})
    assert sink.resume_offsets() == {(TOPIC, 0): 3}  # the last offset in a file, plus one
    assert sink.flushed_offsets() == {(TOPIC, 0): 4}


def test_flush_with_nothing_buffered_writes_nothing(data_dir: Path, files_of: Files) -> None:
    sink = ParquetSink(data_dir, E1)
    assert sink.flush() == {}
    assert files_of(TOPIC) == []


def test_discarded_records_can_be_added_again(
    data_dir: Path, sample_factory: SampleFactory, rows_of: Rows
) -> None:
    sink = ParquetSink(data_dir, E1)
    add_samples(sink, sample_factory, range(0, 3))
    sink.discard([(TOPIC, 0)])  # partition revoked before the flush
    assert sink.buffered == 0

    add_samples(sink, sample_factory, range(0, 3))  # assigned again, read again
    sink.flush()
    assert rows_of(TOPIC).column("_offset").to_pylist() == [0, 1, 2]


def test_a_failed_write_leaves_no_temporary_file_and_keeps_the_records(
    data_dir: Path, sample_factory: SampleFactory, monkeypatch: pytest.MonkeyPatch, rows_of: Rows
) -> None:
    sink = ParquetSink(data_dir, E1)
    add_samples(sink, sample_factory, range(0, 2))

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(pq, "write_table", disk_full)
        with pytest.raises(OSError, match="No space left"):
            sink.flush()
    assert list(data_dir.rglob("*.tmp")) == []
    assert sink.buffered == 2

    assert sink.flush() == {(TOPIC, 0): 2}
    assert rows_of(TOPIC).column("_offset").to_pylist() == [0, 1]


def test_an_unknown_topic_is_refused_when_first_added(data_dir: Path) -> None:
    sink = ParquetSink(data_dir, E1)
    with pytest.raises(KeyError, match="unknown topic 'meter.sample'"):
        sink.add("meter.sample", 0, 0, b"{}")


def test_an_epoch_that_cannot_be_a_file_name_is_refused(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="epoch '../x'"):
        ParquetSink(data_dir, "../x")


# --- two sinks, one partition (a rebalance): the table holds each record once ---------------


def test_a_sink_that_lost_the_race_writes_only_what_the_table_lacks(
    data_dir: Path, sample_factory: SampleFactory
) -> None:
    # Both sinks start while the partition is empty; `winner` then commits offsets 0-2
    # before `loser`, which still had the partition, flushes 0-4.
    winner, loser = ParquetSink(data_dir, E1), ParquetSink(data_dir, E1)
    add_samples(winner, sample_factory, range(0, 3))
    add_samples(loser, sample_factory, range(0, 5))
    winner.flush()

    assert loser.flush() == {(TOPIC, 0): 5}

    table = loser.table(TOPIC)
    offsets = pq.read_table(table.files()).column("_offset").to_pylist()
    assert sorted(offsets) == [0, 1, 2, 3, 4]  # 0-2 once: the loser wrote only 3-4
    assert sorted(Path(f).name for f in table.files()) == [name(0, 2), name(3, 4)]
    assert table.written(E1, [0]) == {0: 4}


def test_a_commit_of_offsets_the_table_holds_is_refused(
    data_dir: Path, sample_factory: SampleFactory
) -> None:
    from warehouse.errors import CommitRefused

    sink = ParquetSink(data_dir, E1)
    add_samples(sink, sample_factory, range(0, 3))
    sink.flush()

    with pytest.raises(CommitRefused, match=r"offsets 2\.\.5 overlap what the table holds"):
        sink.table(TOPIC).commit([], E1, 0, 5, 2)
    sink.table(TOPIC).commit([], E1, 0, 5, 3)  # from the next offset on: accepted
    assert sink.table(TOPIC).written(E1, [0]) == {0: 5}


def test_a_table_the_sink_creates_is_exactly_once_and_one_adopting_old_files_is_not(
    data_dir: Path, sample_factory: SampleFactory, tmp_path: Path
) -> None:
    sink = ParquetSink(data_dir, E1)
    add_samples(sink, sample_factory, range(0, 2))
    sink.flush()
    assert sink.table(TOPIC).exactly_once()

    # A warehouse from before the tables: its files lie in the layout, with no log.
    old = tmp_path / "old"
    for path in (data_dir / "parquet" / TOPIC).rglob("*.parquet"):
        target = old / "parquet" / TOPIC / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    adopted = ParquetSink(old, E1).table(TOPIC)
    assert len(adopted.files()) == 1
    assert not adopted.exactly_once()


def test_a_topic_whose_readings_are_a_count_is_written_as_any_other(data_dir: Path) -> None:
    from gridstream.records import GridCodeEvent

    event = GridCodeEvent(
        event_id="e1", kind="frequency", site_id="site1", direction="under", state="closed",
        start=T0, end=T0 + timedelta(minutes=2), duration_s=120, extreme=49.72,
        band_low=49.8, band_high=50.2, readings=3, revision=0, computed_by="test", as_of=T0,
    )  # fmt: skip
    sink = ParquetSink(data_dir, E1)
    sink.add("events.grid_code", 0, 0, event.to_json())
    assert sink.flush() == {("events.grid_code", 0): 1}
    assert sink.table("events.grid_code").readings_distinct()  # only samples are checked
