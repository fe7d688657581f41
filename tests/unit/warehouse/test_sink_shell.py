"""run_sink and seek_to_resume against an in-memory consumer: write, then commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka.errors import CommitFailedError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from gridstream.records import DeadLetter, MeterSample
from warehouse.sink import ParquetSink, run_sink, seek_to_resume

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
E1 = "gridstream-e1"
TP0 = TopicPartition("meter.samples", 0)
TP1 = TopicPartition("meter.samples", 1)


@dataclass
class Message:
    offset: int
    value: bytes | None


@dataclass
class FakeConsumer:
    """Hands out ``batches`` one per poll, then sets ``stop``; records commits and seeks.

    With ``paced``, batch ``i`` is handed out only once ``i`` commits were made, so that
    the flushes, which run beside the polling, see the same batches every time.
    """

    batches: list[dict[TopicPartition, list[Message]]]
    stop: asyncio.Event
    data_dir: Path
    assigned: set[TopicPartition] = field(default_factory=lambda: {TP0, TP1})
    committed_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    commit_error: Exception | None = None
    commits: list[dict[TopicPartition, OffsetAndMetadata]] = field(default_factory=list)
    files_at_commit: list[int] = field(default_factory=list)
    seeks: dict[TopicPartition, int] = field(default_factory=dict)
    paced: bool = False
    handed_out: int = 0

    async def getmany(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Message]]:
        await asyncio.sleep(0)
        if not self.batches:
            self.stop.set()
            return {}
        while self.paced and len(self.commits) < self.handed_out:
            await asyncio.sleep(0.001)
        self.handed_out += 1
        return self.batches.pop(0)

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.files_at_commit.append(len(list(self.data_dir.rglob("*.parquet"))))
        if self.commit_error is not None:
            raise self.commit_error
        self.commits.append(offsets)

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets.get(tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset


@pytest.fixture
def messages(sample_factory: Callable[..., MeterSample]) -> Callable[[range], list[Message]]:
    """``messages(offsets)``: one meter sample per offset, a minute apart."""

    def make(offsets: range) -> list[Message]:
        return [Message(o, sample_factory(ts=T0 + timedelta(minutes=o)).to_json()) for o in offsets]

    return make


async def test_run_sink_commits_the_next_offsets_only_after_the_files_are_written(
    data_dir: Path, messages: Callable[[range], list[Message]]
) -> None:
    stop = asyncio.Event()
    consumer = FakeConsumer(
        [{TP0: messages(range(0, 3)), TP1: messages(range(7, 9))}], stop, data_dir
    )
    sink = ParquetSink(data_dir, E1)

    stats = await run_sink(consumer, sink, flush_interval_s=3600, stop=stop)

    assert consumer.commits == [{TP0: OffsetAndMetadata(3, E1), TP1: OffsetAndMetadata(9, E1)}]
    assert consumer.files_at_commit == [2]  # both files in place when the commit went out
    assert stats.rows_written == {"meter.samples": 5}


async def test_run_sink_flushes_each_interval(
    data_dir: Path, messages: Callable[[range], list[Message]]
) -> None:
    stop = asyncio.Event()
    consumer = FakeConsumer(
        [{TP0: messages(range(0, 2))}, {TP0: messages(range(2, 4))}], stop, data_dir, paced=True
    )

    await run_sink(consumer, ParquetSink(data_dir, E1), flush_interval_s=0, stop=stop)

    assert [c[TP0].offset for c in consumer.commits] == [2, 4]


async def test_run_sink_flushes_when_the_buffer_is_full(
    data_dir: Path, messages: Callable[[range], list[Message]]
) -> None:
    stop = asyncio.Event()
    consumer = FakeConsumer(
        [{TP0: messages(range(0, 2))}, {TP0: messages(range(2, 3))}], stop, data_dir, paced=True
    )

    await run_sink(
        consumer,
        ParquetSink(data_dir, E1),
        flush_interval_s=3600,
        stop=stop,
        max_buffered_records=2,
    )

    assert [c[TP0].offset for c in consumer.commits] == [2, 3]  # full at 2; the rest at stop


async def test_offsets_of_partitions_taken_away_are_not_committed(
    data_dir: Path, messages: Callable[[range], list[Message]]
) -> None:
    stop = asyncio.Event()
    consumer = FakeConsumer(
        [{TP0: messages(range(0, 1)), TP1: messages(range(0, 1))}], stop, data_dir, assigned={TP1}
    )

    await run_sink(consumer, ParquetSink(data_dir, E1), flush_interval_s=3600, stop=stop)

    assert consumer.commits == [{TP1: OffsetAndMetadata(1, E1)}]


async def test_a_commit_refused_after_a_rebalance_does_not_stop_the_sink(
    data_dir: Path, messages: Callable[[range], list[Message]]
) -> None:
    stop = asyncio.Event()
    consumer = FakeConsumer(
        [{TP0: messages(range(0, 1))}], stop, data_dir, commit_error=CommitFailedError("rebalanced")
    )

    stats = await run_sink(consumer, ParquetSink(data_dir, E1), flush_interval_s=3600, stop=stop)

    assert stats.rows_written == {"meter.samples": 1}


async def test_seek_goes_to_the_later_of_committed_and_written(
    data_dir: Path, messages: Callable[[range], list[Message]]
) -> None:
    written = ParquetSink(data_dir, E1)
    for message in messages(range(0, 5)):
        written.add("meter.samples", 0, message.offset, message.value)
    written.flush()  # offsets 0..4 in a file; the commit of 5 never happened
    tp2 = TopicPartition("meter.samples", 2)
    consumer = FakeConsumer([], asyncio.Event(), data_dir, committed_offsets={TP0: 3, TP1: 9})

    await seek_to_resume(consumer, ParquetSink(data_dir, E1), [TP0, TP1, tp2])

    # TP0: written up to 4 beats committed 3; TP1: committed 9, nothing written;
    # partition 2: neither, so the reset policy (earliest) applies: no seek.
    assert consumer.seeks == {TP0: 5, TP1: 9}


def test_fake_consumer_matches_the_calls_run_sink_makes() -> None:
    from aiokafka import AIOKafkaConsumer

    used = ["getmany", "assignment", "commit", "committed", "seek"]
    assert all(callable(getattr(AIOKafkaConsumer, name)) for name in used)
    assert all(callable(getattr(FakeConsumer, name)) for name in used)


async def test_a_record_that_does_not_fit_its_schema_goes_to_the_dead_letter_topic(
    data_dir: Path, messages: Callable[[range], list[Message]]
) -> None:
    stop = asyncio.Event()
    bad = Message(1, b'{"not": "a sample"}')
    consumer = FakeConsumer([{TP0: [messages(range(0, 1))[0], bad]}], stop, data_dir)
    letters: list[DeadLetter] = []

    async def dead_letter(letter: DeadLetter) -> None:
        letters.append(letter)

    await run_sink(
        consumer, ParquetSink(data_dir, E1), flush_interval_s=3600, stop=stop,
        dead_letter=dead_letter, now=lambda: T0,
    )  # fmt: skip

    [letter] = letters
    assert (letter.source, letter.reason, letter.raw) == (
        "warehouse:meter.samples", "bad_record", '{"not": "a sample"}'
    )  # fmt: skip
    assert letter.detail.startswith("meter.samples[0]@1: ")
    assert consumer.commits == [{TP0: OffsetAndMetadata(2, E1)}]  # and the sink moves on


async def test_on_written_hears_each_partitions_last_offset_after_the_files_before_the_commit(
    data_dir: Path, messages: Callable[[range], list[Message]]
) -> None:
    stop = asyncio.Event()
    consumer = FakeConsumer(
        [{TP0: messages(range(0, 3)), TP1: messages(range(7, 9))}, {TP0: messages(range(3, 4))}],
        stop,
        data_dir,
        paced=True,
    )
    heard: list[tuple[str, str, int, int, int, int]] = []

    def on_written(epoch: str, topic: str, partition: int, last_offset: int) -> None:
        # What is on disk and what was committed at the time of the call.
        files = len(list(data_dir.rglob("*.parquet")))
        heard.append((epoch, topic, partition, last_offset, files, len(consumer.commits)))

    await run_sink(
        consumer, ParquetSink(data_dir, E1), flush_interval_s=0, stop=stop, on_written=on_written
    )

    assert heard == [
        (E1, "meter.samples", 0, 2, 2, 0),  # offsets 0..2 and 7..8: two files, no commit yet
        (E1, "meter.samples", 1, 8, 2, 0),
        (E1, "meter.samples", 0, 3, 3, 1),  # offset 3 after the first commit
    ]
