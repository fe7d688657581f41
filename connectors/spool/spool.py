"""The spool: a durable local buffer between a connector and the broker.

``publish(records)`` (the connector's injected publish) serialises the records for their
topics, appends them to the current segment file and returns once they are on disk
(``fdatasync``): the connector then answers the station, whether the broker is there or
not. Appends from many connections at once share one write and one sync (group commit: a
flusher task writes whatever queued up while the previous sync ran), so each call waits
about one sync and the throughput grows with the number of callers.

The ``Forwarder`` reads the entries back in order and produces them to Kafka; the spool
keeps each one until it is *released* (``ledger``): in ``ack`` mode once the broker
acknowledged it, in ``sink`` mode once the warehouse sink has written it to Parquet
(``release``, wired to the sink's ``on_written`` hook). Segment files whose entries are all
released are deleted; a small checkpoint file records the lowest unreleased entry.

Guarantees and limits:

- Nothing acknowledged to a station is lost by a crash or by the broker going away: it is
  on disk until durable elsewhere. A crash mid-write leaves a torn tail, which no station
  was answered for; it is detected by its CRC and cut off when the spool opens.
- At least once, not exactly once, into Kafka: a crash between an acknowledgement and the
  checkpoint, a failed send that reached the broker after all, or a broker restart re-sends
  entries. Readings carry their identity (station, time, measurand, ...), and the
  warehouse views drop the duplicates.
- Bounded: beyond ``max_bytes`` (``GRIDSTREAM_SPOOL_MAX_BYTES``) of unreleased segments,
  ``publish`` raises ``SpoolFull`` (logged loudly); the connector answers InternalError and
  the station keeps the message and retries. Nothing is dropped silently.
- One process per directory (a lock file): two writers would interleave their frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from connectors.spool import frames
from connectors.spool.errors import SpoolError, SpoolFull
from connectors.spool.frames import SpoolEntry
from connectors.spool.ledger import Ack, ReleaseLedger, ReleaseMode
from connectors.spool.segments import Recovery, SegmentInfo, SegmentLog, SegmentReader
from gridstream import metrics, topics
from gridstream.records import Record

log = logging.getLogger(__name__)

Item = tuple[str, bytes | None, bytes]
"""One record as the spool takes it: topic, key, value (already serialised)."""

DEFAULT_SEGMENT_BYTES = 64 << 20
#: Reads of at most this many entries happen on the event loop, not in a thread.
INLINE_READ_ENTRIES = 64


@dataclass(frozen=True)
class SpoolStats:
    """What the spool did and holds, for logs and the run summary."""

    #: Entries appended since start (this process).
    appended: int
    #: Group commits (one write and one sync each) since start.
    flushes: int
    #: Records refused because the spool was full.
    refused: int
    #: Entries not yet released (kept on disk; replayed after a restart).
    held: int
    #: Bytes of segments that still hold an unreleased entry.
    used_bytes: int


class Spool:
    """Durable, ordered, bounded buffer of serialised records. Use ``async with``."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        mode: ReleaseMode,
        segment_bytes: int | None = None,
        checkpoint_interval_s: float = 0.5,
    ) -> None:
        """Prepare a spool in ``directory`` (created if missing); ``start`` opens it.

        Segments are rolled at ``segment_bytes`` (default: 64 MiB, at most an eighth of
        ``max_bytes`` so that releasing frees room in steps). The checkpoint is written at
        most every ``checkpoint_interval_s`` while entries are being released.
        """
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.mode: ReleaseMode = mode
        self._log = SegmentLog(
            self.directory,
            segment_bytes or max(4096, min(DEFAULT_SEGMENT_BYTES, max_bytes // 8)),
        )
        self._checkpoint_interval_s = checkpoint_interval_s
        self._ledger = ReleaseLedger(mode)
        self._reader = SegmentReader()
        self._segments: tuple[SegmentInfo, ...] = ()
        self._queue: list[tuple[Sequence[Item], asyncio.Future[None]]] = []
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._appended_event = asyncio.Event()
        self._released_event = asyncio.Event()
        self._closing = asyncio.Event()
        self._files = asyncio.Lock()  # reading vs deleting segment files
        self._tasks: list[asyncio.Task[None]] = []
        self._checkpointed = -1
        self._started = self._closed = False
        self._full = False
        self._appended = self._flushes = self._refused = self._refused_while_full = 0

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> Recovery:
        """Open the directory (recovering what a previous process left) and start writing."""
        if self._started:
            raise RuntimeError("spool already started")
        recovery = await asyncio.to_thread(self._log.open)
        self._started = True
        self._ledger = ReleaseLedger(self.mode, recovery.low, recovery.next_seq)
        self._checkpointed = recovery.low
        self._segments = self._log.snapshot()
        if self._ledger.held:
            log.info(
                "spool %s: %d entries kept from before (entries %d..%d) will be sent again",
                self.directory,
                self._ledger.held,
                recovery.low,
                recovery.next_seq - 1,
            )
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name="spool-flush"),
            asyncio.create_task(self._housekeeping_loop(), name="spool-housekeeping"),
        ]
        return recovery

    async def close(self) -> None:
        """Write what is queued, record what is released, and close the files.

        Unreleased entries stay on disk and are sent again by the next spool on this
        directory.
        """
        if not self._started or self._closed:
            return
        self._closed = True
        # The tasks finish what they are doing (a write in a thread must not outlive the
        # files it writes to) and end: the flusher once the queue is written.
        self._closing.set()
        self._wake.set()
        self._released_event.set()
        await asyncio.gather(*self._tasks)
        await self._persist_release(keep_last=self._ledger.held > 0)
        self._reader.close()
        await asyncio.to_thread(self._log.close)

    async def __aenter__(self) -> Spool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- appending --------------------------------------------------------------------------

    async def publish(self, records: Sequence[Record]) -> None:
        """Keep ``records`` durably for their topics; return once they are on disk.

        The connector's publish: same contract as ``RecordProducer.publish`` except that
        the broker need not be there. Raises ``SpoolFull`` (nothing kept) when the spool
        holds ``max_bytes`` already, ``SpoolError`` when the disk write fails.
        """
        await self.append(
            [(topics.for_record(r).name, topics.key_of(r), r.to_json()) for r in records]
        )
        metrics.count_dead_letters(records)  # kept: they reach the dlq topic from here

    async def append(self, items: Sequence[Item]) -> None:
        """Keep already serialised ``(topic, key, value)`` items; return once synced."""
        if not items:
            return
        if not self._started or self._closed:
            raise SpoolError(f"spool {self.directory} is not open")
        size = sum(frames.frame_size(t, k, v) for t, k, v in items)
        if self.used_bytes + size > self.max_bytes:
            self._refuse(size)
        elif self._full:
            self._full = False
            log.warning(
                "spool %s has room again; %d records were refused while it was full "
                "(their stations were answered InternalError and retry)",
                self.directory,
                self._refused_while_full,
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        self._queued_bytes += size
        self._wake.set()
        await future

    def _refuse(self, size: int) -> None:
        self._refused += 1
        self._refused_while_full += 1
        if not self._full:
            self._full = True
            self._refused_while_full = 1
            log.error(
                "spool %s is FULL (%d of %d bytes, %d entries not yet durable): refusing new "
                "records until the broker%s catches up; stations are answered InternalError "
                "and retry",
                self.directory,
                self.used_bytes,
                self.max_bytes,
                self._ledger.held,
                "" if self.mode == "ack" else " and the warehouse sink",
            )
        raise SpoolFull(
            f"spool {self.directory} is full: {self.used_bytes} + {size} bytes would exceed "
            f"GRIDSTREAM_SPOOL_MAX_BYTES={self.max_bytes}"
        )

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                group, self._queue = self._queue, []
                await self._flush(group)
            if self._closing.is_set():
                return

    async def _flush(self, group: list[tuple[Sequence[Item], asyncio.Future[None]]]) -> None:
        items = [item for batch, _ in group for item in batch]
        size = sum(frames.frame_size(t, k, v) for t, k, v in items)
        first = self._ledger.next_seq
        try:
            self._segments = await asyncio.to_thread(self._write, first, items)
        except Exception as exc:
            log.exception("spool %s: writing %d records failed", self.directory, len(items))
            error = SpoolError(f"spool {self.directory}: writing failed: {exc!r}")
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        finally:
            self._queued_bytes -= size
        self._ledger.appended(first + len(items))
        self._appended += len(items)
        self._flushes += 1
        self._appended_event.set()
        for _, future in group:
            if not future.done():
                future.set_result(None)

    def _write(self, first: int, items: list[Item]) -> tuple[SegmentInfo, ...]:
        framed = [
            frames.encode(SpoolEntry(first + i, topic, key, value))
            for i, (topic, key, value) in enumerate(items)
        ]
        self._log.append(first, framed)
        return self._log.snapshot()

    # -- releasing --------------------------------------------------------------------------

    def release(self, epoch: str, topic: str, partition: int, last_offset: int) -> None:
        """The sink wrote ``topic[partition]`` up to ``last_offset`` in broker ``epoch``.

        Releases (sink mode) every entry the broker of that epoch acknowledged at or below
        that offset. Call it from the spool's event loop, after the sink's files are in
        place; the warehouse sink's ``on_written`` hook fits.
        """
        if self._ledger.written(epoch, topic, partition, last_offset):
            self._released_event.set()

    async def _housekeeping_loop(self) -> None:
        while not self._closing.is_set():
            await self._released_event.wait()
            self._released_event.clear()
            if self._closing.is_set():
                return  # close() records the last state itself
            await self._persist_release(keep_last=True)
            # At most one checkpoint per interval, however often entries are released.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._checkpoint_interval_s)

    async def _persist_release(self, *, keep_last: bool) -> None:
        low = self._ledger.low
        async with self._files:
            if low != self._checkpointed:
                await asyncio.to_thread(self._log.write_checkpoint, low)
                self._checkpointed = low
            await asyncio.to_thread(self._log.delete_released, low, keep_last=keep_last)
            self._segments = self._log.snapshot()

    # -- the forwarder's side ---------------------------------------------------------------

    async def read(
        self, from_seq: int, *, max_entries: int, max_bytes: int
    ) -> tuple[list[SpoolEntry], int]:
        """Unreleased entries from ``from_seq`` on, in order, and where to read next.

        Only synced entries are read. Released entries are skipped (the returned position
        still moves past them).
        """
        from_seq = max(from_seq, self._ledger.low)
        if from_seq >= self._ledger.next_seq:
            return [], from_seq
        async with self._files:
            if self._ledger.next_seq - from_seq <= INLINE_READ_ENTRIES:
                # A few entries just written: in the page cache, read faster than a thread
                # hand-off takes.
                entries, next_seq = self._reader.read(
                    self._segments, from_seq, max_entries=max_entries, max_bytes=max_bytes
                )
            else:
                entries, next_seq = await asyncio.to_thread(
                    self._reader.read,
                    self._segments,
                    from_seq,
                    max_entries=max_entries,
                    max_bytes=max_bytes,
                )
        return [e for e in entries if not self._ledger.is_released(e.seq)], next_seq

    async def wait_appended(self, after_seq: int, timeout_s: float) -> bool:
        """Wait until an entry at or after ``after_seq`` is synced; False on timeout."""
        while self._ledger.next_seq <= after_seq:
            self._appended_event.clear()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._appended_event.wait()
            except TimeoutError:
                return self._ledger.next_seq > after_seq
        return True

    def new_epoch(self, epoch: str) -> None:
        """Acknowledgements come from broker ``epoch`` from now on (see ``ReleaseLedger``)."""
        self._ledger.new_epoch(epoch)

    def acknowledge(self, epoch: str, entries: Sequence[SpoolEntry], acks: Sequence[Ack]) -> None:
        """The broker of ``epoch`` acknowledged ``entries`` at ``acks`` (same order)."""
        if len(entries) != len(acks):
            raise ValueError(f"{len(entries)} entries but {len(acks)} acknowledgements")
        if self._ledger.acknowledge(epoch, zip((e.seq for e in entries), acks, strict=True)):
            self._released_event.set()

    # -- reporting --------------------------------------------------------------------------

    @property
    def epoch(self) -> str | None:
        """The broker epoch acknowledgements are recorded for (None before the first)."""
        return self._ledger.epoch

    @property
    def acked(self) -> dict[tuple[str, int], int]:
        """Highest acknowledged offset per (topic, partition) in the current epoch."""
        return dict(self._ledger.acked)

    @property
    def low(self) -> int:
        """The lowest entry not yet released."""
        return self._ledger.low

    @property
    def next_seq(self) -> int:
        """One past the last synced entry."""
        return self._ledger.next_seq

    @property
    def held(self) -> int:
        """Entries kept and not yet released."""
        return self._ledger.held

    @property
    def used_bytes(self) -> int:
        """Bytes of segments holding an unreleased entry, plus appends not yet written."""
        low = self._ledger.low
        kept = sum(s.size for s in self._segments if s.end_seq > low)
        return kept + self._queued_bytes

    def stats(self) -> SpoolStats:
        """Counts since start and what the spool holds now."""
        return SpoolStats(
            appended=self._appended,
            flushes=self._flushes,
            refused=self._refused,
            held=self.held,
            used_bytes=self.used_bytes,
        )
