"""Kafka -> Parquet, exactly once: the warehouse sink.

The core, ``ParquetSink``, knows nothing of Kafka clients: it takes ``(topic, partition,
offset, value)``, buffers per (topic, partition) and, at ``flush``, writes one Parquet file
per (topic, partition, date), commits them to the topic's Delta table, and returns the
offsets to commit. The shell, ``run_sink``, polls an aiokafka consumer, adds, flushes every
interval and commits after the write (STYLE.md rule 15; the order is: decode, write temp
files, rename, table commit, then Kafka commit). Between the table commit and the Kafka
commit, an optional ``on_written`` hook hears how far each partition is written
(``WrittenHook``: a connector's spool releases what it kept on it).

Exactly once, without Kafka transactions (unreliable on the embedded broker, DESIGN.md):

- Each flush of a partition is one Delta commit that adds its files and records the last
  offset written as the app transaction of (epoch, partition) (``warehouse.table``). On
  start and on every partition assignment the sink reads those versions.
- The consumer is moved to ``max(committed, written + 1)``: a crash between the table
  commit and the Kafka commit re-reads nothing that is already in the table.
- ``add`` skips any offset at or below what is written or buffered, so a record delivered
  twice (a seek back, a rebalance) is written once.
- Before writing, a flush leaves out the offsets the table already holds (another sink
  process that had the partition committed them), and the commit is refused if they
  arrive meanwhile (``TopicTable.commit``); the flush then writes what is still missing.
  So every record is in the table once, even across two sinks that both held a partition.
- A batch whose files were renamed but not committed (a crash in between) is in no table
  version: no reader sees it, and its records are read and written again.

A new epoch (a restarted embedded broker) starts from nothing: its offset 0 is a new record,
and its file names cannot collide with the old ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from gridstream import metrics
from gridstream import topics as catalog
from gridstream.broker import group_consumer
from gridstream.records import DeadLetter
from warehouse import layout
from warehouse.errors import CommitRefused, DecodeError
from warehouse.schemas import event_time_field, records_to_table, topic_schema
from warehouse.table import TopicTable, Written

log = logging.getLogger(__name__)

Key = tuple[str, int]
"""(topic, partition)."""

#: A flush writes a batch again at most this often when its commit is refused (another
#: sink committing the same partition each time: a rebalance storm).
_COMMIT_ATTEMPTS = 5

DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]
"""Sends one dead letter to the ``dlq`` topic and returns once it is acknowledged."""

WrittenHook = Callable[[str, str, int, int], None]
"""``on_written(epoch, topic, partition, last_offset)``: everything of ``topic[partition]``
up to ``last_offset`` (inclusive) in broker ``epoch`` is in Parquet files (or was a record
that leaves no row). A connector's spool releases what it kept for the sink on it."""


@dataclass(frozen=True)
class Rejection:
    """A record the sink could not decode into its topic's schema; it is not written."""

    topic: str
    partition: int
    offset: int
    detail: str
    raw: bytes = b""

    def __str__(self) -> str:
        """``topic[partition]@offset: detail``."""
        return f"{self.topic}[{self.partition}]@{self.offset}: {self.detail}"

    def to_dead_letter(self, received_at: datetime) -> DeadLetter:
        """The ``dlq`` record: the raw value, where it was, and why it was not written."""
        return DeadLetter(
            source=f"warehouse:{self.topic}",
            reason="bad_record",
            detail=str(self),
            raw=self.raw.decode(errors="replace"),
            received_at=received_at,
        )


@dataclass(frozen=True)
class SinkStats:
    """Counts per topic since the sink was created, for the run summary."""

    rows_written: Mapping[str, int]
    files_written: int
    #: Records at or below an offset already written or buffered (re-deliveries).
    duplicates_skipped: Mapping[str, int]
    #: Records with no value (deletions on a compacted topic); nothing to write.
    tombstones: Mapping[str, int]
    rejected: Mapping[str, int]


@dataclass
class _Buffer:
    offsets: list[int] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    last_seen: int = -1


class ParquetSink:
    """Buffers topic records per (topic, partition) and writes them as Parquet at ``flush``.

    Thread-safe: ``flush`` takes the buffers as they are when it starts, so ``add``,
    ``discard`` and ``rescan`` may run while a flush writes in another thread (``run_sink``
    keeps consuming meanwhile). Flushes themselves must not overlap.
    """

    def __init__(self, data_dir: Path, epoch: str, *, compression: str = "zstd") -> None:
        """Open the sink on ``data_dir`` for broker ``epoch``; scan what is written.

        ``epoch`` goes into every file name: letters, digits, ``_ . -`` (a Kafka cluster id
        qualifies). Epochs of one data directory should sort in time order, since the
        views take the greatest epoch as the latest.
        """
        if not layout.is_valid_epoch(epoch):
            raise ValueError(
                f"epoch {epoch!r} cannot be part of a file name: use letters, digits, _ . -"
            )
        self.data_dir = Path(data_dir)
        self.epoch = epoch
        self._compression = compression
        self._lock = threading.Lock()
        self._buffers: dict[Key, _Buffer] = {}
        self._buffered = 0
        self._written: dict[Key, int] = {}
        self._high: dict[Key, int] = {}
        self._flushed: dict[Key, int] = {}
        self._rows: Counter[str] = Counter()
        self._files = 0
        self._duplicates: Counter[str] = Counter()
        self._tombstones: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._rejections: list[Rejection] = []
        self._tables: dict[str, TopicTable] = {}
        self.rescan()

    # -- adding -----------------------------------------------------------------------------

    def add(self, topic: str, partition: int, offset: int, value: bytes | None) -> bool:
        """Buffer one record; False when it is not buffered.

        Not buffered: an offset at or below one already written or buffered (counted as a
        duplicate) or a record without a value (a tombstone, counted). Both still advance
        the offset to commit. Raises ``KeyError`` for a topic not in the catalog.
        """
        key = (topic, partition)
        with self._lock:
            if offset <= self._high.get(key, -1):
                self._duplicates[topic] += 1
                return False
            buffer = self._buffers.get(key)
            if buffer is None:
                catalog.by_name(topic)
                buffer = self._buffers[key] = _Buffer()
            buffer.last_seen = offset
            self._high[key] = offset
            if value is None:
                self._tombstones[topic] += 1
                return False
            buffer.offsets.append(offset)
            buffer.values.append(value)
            self._buffered += 1
            return True

    @property
    def buffered(self) -> int:
        """Records buffered since the last flush."""
        return self._buffered

    # -- writing ----------------------------------------------------------------------------

    def flush(self) -> dict[Key, int]:
        """Write every buffer; return the next offset to commit per (topic, partition).

        One file per (topic, partition, date) (``warehouse.layout``), written under a
        temporary name, synced and renamed. The returned offsets are only safe to commit
        after this returns. On an error the unwritten buffers are kept for the next flush.
        """
        with self._lock:
            pending, self._buffers, self._buffered = self._buffers, {}, 0
        commits: dict[Key, int] = {}
        keys = sorted(pending)
        for index, key in enumerate(keys):
            buffer = pending[key]
            try:
                last = self._write(key, buffer) if buffer.values else None
            except BaseException:
                self._restore({k: pending[k] for k in keys[index:]})
                raise
            commits[key] = buffer.last_seen + 1
            with self._lock:
                if last is not None:
                    self._written[key] = max(self._written.get(key, -1), last)
                    self._high[key] = max(self._high.get(key, -1), last)
                self._flushed[key] = max(self._flushed.get(key, 0), commits[key])
        return commits

    def _write(self, key: Key, buffer: _Buffer) -> int | None:
        topic, partition = key
        offsets, table = self._decode(topic, partition, buffer.offsets, buffer.values)
        if table is None or not offsets:
            return None
        for _ in range(_COMMIT_ATTEMPTS):
            # What another sink process committed meanwhile (a rebalance) is left out.
            held = self.table(topic).written(self.epoch, [partition]).get(partition, -1)
            if offsets[-1] <= held:
                return offsets[-1]
            if offsets[0] <= held:
                keep = pc.greater(pa.array(offsets, pa.int64()), held)
                offsets = [o for o in offsets if o > held]
                table = table.filter(keep)
            try:
                self._write_and_commit(topic, partition, offsets, table)
            except CommitRefused as exc:
                log.warning("warehouse sink: %s; reading the table's offsets again", exc)
                continue
            return offsets[-1]
        raise CommitRefused(f"{topic}[{partition}]: refused {_COMMIT_ATTEMPTS} times in a row")

    def _write_and_commit(
        self, topic: str, partition: int, offsets: list[int], table: pa.Table
    ) -> None:
        schema = topic_schema(topic)
        rows = table.num_rows
        table = pa.Table.from_arrays(
            [
                *table.columns,
                pa.repeat(pa.scalar(partition, pa.int32()), rows),
                pa.array(offsets, pa.int64()),
                pa.repeat(pa.scalar(self.epoch), rows),
            ],
            schema=schema,
        )
        # Only meter samples' readings are a list (a grid-code event's is a count).
        if topic == catalog.METER_SAMPLES.name and repeats_a_reading(table["readings"]):
            target = self.table(topic)
            if target.readings_distinct():
                target.mark_repeated_readings()  # before any reader can see the batch
        parts = _split_by_date(topic, table)
        name = layout.BatchFile(self.epoch, partition, offsets[0], offsets[-1]).name
        metadata = {**schema.metadata, layout.BATCH_FILES_KEY: str(len(parts)).encode()}
        staged: list[tuple[Path, Path]] = []
        written: list[Written] = []
        try:
            for day, part in parts:
                folder = layout.topic_dir(self.data_dir, topic) / f"date={day}"
                folder.mkdir(parents=True, exist_ok=True)
                temporary = folder / f".{name}.tmp"
                staged.append((temporary, folder / name))
                written.append(Written(folder / name, day, part.num_rows))
                pq.write_table(
                    part.replace_schema_metadata(metadata),
                    temporary,
                    compression=self._compression,
                )
                _fsync(temporary)
            for temporary, final in staged:
                os.replace(temporary, final)
            for folder in {final.parent for _, final in staged}:
                _fsync(folder)
        finally:
            for temporary, _ in staged:
                temporary.unlink(missing_ok=True)
        # The commit makes the batch visible to every reader, with its offsets: until it
        # succeeds the files are in no table version, and the records count as unwritten.
        self.table(topic).commit(written, self.epoch, partition, offsets[-1], offsets[0])
        with self._lock:
            self._rows[topic] += rows
            self._files += len(parts)
        metrics.SINK_ROWS.labels(topic).inc(rows)
        metrics.SINK_FILES.labels(topic).inc(len(parts))

    def _decode(
        self, topic: str, partition: int, offsets: list[int], values: list[bytes]
    ) -> tuple[list[int], pa.Table | None]:
        """Decode a batch; on a bad value, bisect to reject just the bad ones."""
        try:
            return offsets, records_to_table(topic, values)
        except DecodeError as exc:
            if len(values) == 1:
                rejection = Rejection(topic, partition, offsets[0], str(exc), values[0])
                with self._lock:
                    self._rejections.append(rejection)
                    self._rejected[topic] += 1
                return [], None
        middle = len(values) // 2
        left_offsets, left = self._decode(topic, partition, offsets[:middle], values[:middle])
        right_offsets, right = self._decode(topic, partition, offsets[middle:], values[middle:])
        tables = [t for t in (left, right) if t is not None]
        return left_offsets + right_offsets, pa.concat_tables(tables) if tables else None

    def _restore(self, unwritten: dict[Key, _Buffer]) -> None:
        with self._lock:
            for key, old in unwritten.items():
                newer = self._buffers.get(key)
                if newer is not None:
                    old.offsets += newer.offsets
                    old.values += newer.values
                    old.last_seen = max(old.last_seen, newer.last_seen)
                    self._buffered -= len(newer.values)
                self._buffers[key] = old
                self._buffered += len(old.values)

    # -- positions --------------------------------------------------------------------------

    def resume_offsets(self) -> dict[Key, int]:
        """Where to seek per (topic, partition): one past the highest offset written."""
        with self._lock:
            return {key: last + 1 for key, last in self._written.items()}

    def flushed_offsets(self) -> dict[Key, int]:
        """One past the highest offset each flush has dealt with, in this process.

        Unlike ``resume_offsets`` it also counts records that leave no row (tombstones,
        rejections, duplicates): use it to wait until the sink has caught up with what was
        produced.
        """
        with self._lock:
            return dict(self._flushed)

    def table(self, topic: str) -> TopicTable:
        """The Delta table of ``topic``'s files (``warehouse.table``)."""
        with self._lock:
            table = self._tables.get(topic)
            if table is None:
                root = layout.topic_dir(self.data_dir, topic)
                table = self._tables[topic] = TopicTable(root, topic_schema(topic))
        return table

    def rescan(self, topics: Iterable[str] | None = None) -> None:
        """Read the offsets this epoch's commits wrote, from the tables (all or ``topics``).

        Another sink process may have written a partition this one now owns; call this on
        assignment, before seeking.
        """
        scanned: dict[Key, int] = {}
        for name in topics if topics is not None else [t.name for t in catalog.ALL]:
            partitions = range(catalog.by_name(name).partitions)
            for partition, last in self.table(name).written(self.epoch, partitions).items():
                scanned[name, partition] = last
        with self._lock:
            for key, last in scanned.items():
                self._written[key] = max(self._written.get(key, -1), last)
                self._high[key] = max(self._high.get(key, -1), last)

    def discard(self, keys: Collection[Key]) -> None:
        """Drop the unwritten buffers of ``keys`` (partitions revoked from this sink).

        Their records are read again by whoever owns the partition next, from the committed
        or written offset.
        """
        with self._lock:
            for key in keys:
                buffer = self._buffers.pop(key, None)
                if buffer is not None:
                    self._buffered -= len(buffer.values)
                if key in self._written:
                    self._high[key] = self._written[key]
                else:
                    self._high.pop(key, None)

    # -- reporting --------------------------------------------------------------------------

    def take_rejections(self) -> list[Rejection]:
        """The rejections since the last call (the shell logs them)."""
        with self._lock:
            out, self._rejections = self._rejections, []
        return out

    def stats(self) -> SinkStats:
        """Counts per topic so far."""
        with self._lock:
            return SinkStats(
                rows_written=dict(self._rows),
                files_written=self._files,
                duplicates_skipped=dict(self._duplicates),
                tombstones=dict(self._tombstones),
                rejected=dict(self._rejected),
            )


def repeats_a_reading(readings: pa.ChunkedArray) -> bool:
    """Whether a sample holds two readings of one measurand, phase, location and context.

    >>> reading = {"measurand": "Voltage", "phase": "L1", "location": None, "context": None}
    >>> repeats_a_reading(pa.chunked_array([[[reading, {**reading, "phase": "L2"}]]]))
    False
    >>> repeats_a_reading(pa.chunked_array([[[reading], [reading, reading]]]))
    True
    """
    lists = readings.combine_chunks()  # parent indices count per chunk
    flat = pc.list_flatten(lists)
    if len(flat) == 0:
        return False
    # One integer per reading: its sample, then each identity field's dictionary code
    # (null its own code), in mixed radix; a repeat is an integer seen twice.
    key = pc.list_parent_indices(lists).cast(pa.int64())
    span = len(lists)
    for name in ("measurand", "phase", "location", "context"):
        if flat.type.get_field_index(name) < 0:
            continue
        codes = pc.dictionary_encode(pc.struct_field(flat, name), null_encoding="encode")
        size = max(1, len(codes.dictionary))
        if span * size >= 1 << 62:  # cannot overflow: compare the fields themselves
            return _repeats_by_group(lists, flat)
        key = pc.add(pc.multiply(key, size), codes.indices.cast(pa.int64()))
        span *= size
    return bool(len(pc.unique(key)) < len(flat))


def _repeats_by_group(lists: pa.ListArray, flat: pa.StructArray) -> bool:
    fields = [
        k
        for k in ("measurand", "phase", "location", "context")
        if flat.type.get_field_index(k) >= 0
    ]
    table = pa.table(
        {"sample": pc.list_parent_indices(lists), **{k: pc.struct_field(flat, k) for k in fields}}
    )
    return bool(table.group_by(table.column_names).aggregate([]).num_rows < len(flat))


def _split_by_date(topic: str, table: pa.Table) -> list[tuple[str, pa.Table]]:
    """The table's rows per UTC date of their event time (``YYYY-MM-DD``), dates ascending."""
    column = event_time_field(topic)
    if column is None:
        return [(layout.UNDATED, table)]
    days = pc.cast(table[column], pa.date32())
    unique = sorted(pc.unique(days).to_pylist())
    if len(unique) == 1:
        return [(unique[0].isoformat(), table)]
    return [
        (day.isoformat(), table.filter(pc.equal(days, pa.scalar(day, pa.date32()))))
        for day in unique
    ]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the shell: an aiokafka consumer around the core ------------------------------------------


class SinkConsumer(Protocol):
    """What the shell uses of a consumer (``AIOKafkaConsumer`` has it; tests pass fakes)."""

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[Any]]:
        """Records fetched per partition (each with ``offset`` and ``value``)."""
        ...

    def assignment(self) -> set[TopicPartition]:
        """The partitions currently assigned."""
        ...

    async def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None:
        """Commit ``offsets`` for the group."""
        ...

    async def committed(self, partition: TopicPartition) -> int | None:
        """The group's committed offset of ``partition``."""
        ...

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Read ``partition`` from ``offset`` next."""
        ...


async def seek_to_resume(
    consumer: SinkConsumer, sink: ParquetSink, partitions: Collection[TopicPartition]
) -> None:
    """Rescan the files of ``partitions`` and seek each to ``max(committed, written + 1)``.

    A partition with neither a committed offset nor a file keeps the consumer's reset
    policy (earliest).
    """
    sink.rescan({tp.topic for tp in partitions})
    resume = sink.resume_offsets()
    for tp in partitions:
        committed = await consumer.committed(tp)
        written = resume.get((tp.topic, tp.partition))
        candidates = [o for o in (committed, written) if o is not None]
        if candidates:
            consumer.seek(tp, max(candidates))


class _ResumeOnAssign(ConsumerRebalanceListener):
    def __init__(self, sink: ParquetSink) -> None:
        self.sink = sink
        self.consumer: AIOKafkaConsumer | None = None

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        self.sink.discard([(tp.topic, tp.partition) for tp in revoked])

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        if self.consumer is not None and assigned:
            await seek_to_resume(self.consumer, self.sink, assigned)


def make_sink_consumer(
    bootstrap: str,
    group_id: str,
    topics: Iterable[str],
    sink: ParquetSink,
    *,
    client_id: str = "gridstream-sink",
) -> AIOKafkaConsumer:
    """An aiokafka consumer for the sink, subscribed to ``topics`` (not started).

    Manual commits, earliest reset, and the group timeouts that make a join take seconds on
    the embedded broker (DESIGN.md). On each assignment it seeks to
    ``max(committed, written + 1)`` (``seek_to_resume``). Call it from a coroutine (aiokafka
    binds the running loop), then ``await consumer.start()``.
    """
    consumer = group_consumer(bootstrap, group_id, client_id)
    listener = _ResumeOnAssign(sink)
    listener.consumer = consumer
    consumer.subscribe(list(topics), listener=listener)
    return consumer


async def run_sink(
    consumer: SinkConsumer,
    sink: ParquetSink,
    flush_interval_s: float,
    stop: asyncio.Event,
    *,
    max_buffered_records: int = 100_000,
    dead_letter: DeadLetterSink | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_written: WrittenHook | None = None,
) -> SinkStats:
    """Consume into ``sink`` until ``stop`` is set; flush and commit every interval.

    ``consumer`` is started and subscribed (or assigned and positioned) by the caller.
    A flush also happens when ``max_buffered_records`` are buffered, and once more at stop
    (or cancellation). Offsets are committed only after the files are in place, and only
    for partitions still assigned. Records that do not fit their topic's schema are sent,
    raw and with the reason, to ``dead_letter`` (the ``dlq`` topic) before their offsets
    are committed, so nothing is skipped silently. After each flush, before the commit,
    ``on_written`` (if given) is told, per partition flushed, the last offset now written.
    Returns the sink's counts.
    """
    loop = asyncio.get_running_loop()
    poll_timeout_ms = max(1, int(min(flush_interval_s, 0.5) * 1000))
    next_flush = loop.time() + flush_interval_s
    # One flush at a time runs in a thread while polling goes on; it is awaited before the
    # next one starts (commits stay in order) and whenever the buffer is full (memory).
    flushing: asyncio.Task[None] | None = None
    finished = False
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=poll_timeout_ms)
            for tp, messages in batches.items():
                for message in messages:
                    sink.add(tp.topic, tp.partition, message.offset, message.value)
            full = sink.buffered >= max_buffered_records
            if flushing is not None and (flushing.done() or full):
                await flushing
                flushing = None
            if flushing is None and (full or loop.time() >= next_flush):
                flushing = asyncio.create_task(
                    _flush_and_commit(consumer, sink, dead_letter, now, on_written)
                )
                next_flush = loop.time() + flush_interval_s
        finished = True
    except asyncio.CancelledError:
        finished = True
        raise
    finally:
        if flushing is not None:
            if finished:
                await flushing
            else:  # let the write end, but do not hide the error that stopped the loop
                await asyncio.wait([flushing])
        if finished:
            await _flush_and_commit(consumer, sink, dead_letter, now, on_written)
    return sink.stats()


async def _flush_and_commit(
    consumer: SinkConsumer,
    sink: ParquetSink,
    dead_letter: DeadLetterSink | None,
    now: Callable[[], datetime],
    on_written: WrittenHook | None = None,
) -> None:
    commits = await asyncio.to_thread(sink.flush)
    for rejection in sink.take_rejections():
        log.error("warehouse sink rejected %s", rejection)
        # A bad record on the dlq topic itself is only logged: re-sending it would loop.
        if dead_letter is not None and rejection.topic != catalog.DLQ.name:
            await dead_letter(rejection.to_dead_letter(now()))
    if on_written is not None:
        # The files are renamed into place and synced, rejections are dead-lettered: the
        # records up to here are durable, whatever becomes of the commit.
        for (topic, partition), offset in sorted(commits.items()):
            on_written(sink.epoch, topic, partition, offset - 1)
    assigned = consumer.assignment()
    offsets = {
        tp: OffsetAndMetadata(offset, sink.epoch)
        for (topic, partition), offset in commits.items()
        if (tp := TopicPartition(topic, partition)) in assigned
    }
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
        metrics.SINK_LAST_COMMIT.set_to_current_time()  # `gridstream status` reads its age
    except (CommitFailedError, IllegalStateError) as exc:
        # A rebalance took partitions away: the files are written, the next owner resumes
        # from them (seek_to_resume), so nothing is lost or doubled.
        log.warning("warehouse sink could not commit %s: %s", offsets, exc)
