"""The worker around computations over one input topic: batches in, outputs out, state kept.

No arithmetic and no time rules here (the computations in ``streams.compute`` have them):
this module takes batches of the input (from ``streams.agents.batch_consumer``'s getmany
loop, or from a Faust agent: ``register`` below), decodes each once into the topic's record, hands
them to every computation in one pass (DESIGN.md: Faust's cost is per record), keeps each
computation's keyed state grouped by input partition, publishes the outputs, and
checkpoints what each batch changed with the offset it covers before Faust commits: in the
local store (``streams.state_store``) and, so that a partition's state moves with it to
another host, on a compacted checkpoint topic (``streams.checkpoint_log``), whichever is
newer being restored when a partition is first seen.

Never a batch skipped (DESIGN.md; faust's ``take_events`` acks a batch in a ``finally``,
even when the agent raised):

- outputs that cannot be published are retried in place, with backoff, until the broker
  takes them; the agent does not raise, so nothing is acked that was not applied;
- the checkpoint, not Faust's committed offset, says where a partition's state ends: when
  a partition's input resumes past it (Faust committed a batch that a stopped or killed
  worker never checkpointed, or a partition with no checkpoint at all), the worker seeks
  the partition back to the checkpoint's offset + 1 (or to the start of the retained
  input) and drops what arrives before the rewind takes effect.

``streams.agents.quarter_hour`` runs the site load and the analytics over meter.samples
(on the getmany loop); ``streams.agents.flex_offers`` sums the sites' flexibility per
congestion area (a Faust agent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import faust
import orjson
from faust.types import TP, EventT
from pydantic import ValidationError

from gridstream import metrics, topics
from gridstream.records import DeadLetter, Record
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from gridstream.topics import Topic
from streams.checkpoint_log import CheckpointLog
from streams.compute.computation import BatchContext, Computation
from streams.compute.limit_book import LimitBook
from streams.compute.needs_book import NeedsBook
from streams.compute.signal_book import SignalBook
from streams.state_store import StateStore

log = logging.getLogger(__name__)

#: How long a key may stay silent, behind its partition's newest input, before its state
#: is dropped from memory and from the store: past every month it could still revise.
KEY_RETENTION = timedelta(days=35)

#: How long a rewound partition may deliver nothing at or after the checkpoint before the
#: hole is taken as real (input deleted by retention): processing then goes on from there.
REWIND_PATIENCE_S = 30.0


class Publish(Protocol):
    """Sends records and returns once the broker acknowledged them."""

    async def __call__(self, records: Sequence[Record]) -> None:
        """Produce ``records``; raise if the broker did not acknowledge them."""


class Seek(Protocol):
    """Moves the consumer of an input partition to an offset (the next one it delivers)."""

    async def __call__(self, partition: int, offset: int) -> None:
        """Seek ``partition`` of the input topic to ``offset``."""


@dataclass
class _PartitionState:
    offset: int = -1
    #: Per computation name, its keyed state.
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: A rewind under way: (the offset sought, when, the first offset of the hole seen).
    rewind: tuple[int, float, int] | None = None
    #: Keys changed / dropped since the last checkpoint, and when that was (monotonic s).
    unsaved: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    saved_offset: int = -1
    saved_at: float = field(default_factory=time.monotonic)


class BatchWorker:
    """The agent's state and I/O around the computations over one input topic.

    One per input topic and worker process. Each batch is decoded once into the topic's
    record and handed to every computation (``streams.compute.computation``) in order, in
    one pass; their keyed state is checkpointed per input partition as ``<name>:<key>``.
    """

    def __init__(
        self,
        source: Topic,
        computations: Sequence[Computation[Any]],
        registry: SiteRegistry,
        publish: Publish,
        store: StateStore,
        now: Callable[[], datetime],
        seek: Seek | None = None,
        *,
        retry_delay_s: float = 0.2,
        key_retention: timedelta = KEY_RETENTION,
        checkpoint_log: CheckpointLog | None = None,
        signals: SignalBook | None = None,
        needs: NeedsBook | None = None,
        limits: LimitBook | None = None,
        checkpoint_every_s: float = 0.0,
    ) -> None:
        """Wire the computations over ``source`` to publisher, store, clock and seek.

        ``checkpoint_every_s``: a partition's state is checkpointed at most this often (0:
        after every batch). The keys a batch changed are gathered until then, so a key that
        changes in every batch is written once per interval: under load, serialising the
        state of every site a batch touched costs a third of the worker's time. A crash
        replays the input since the last checkpoint, which re-emits the same revisions
        (the warehouse keeps each once); a revoked partition and a stopping worker
        checkpoint first (``flush``).

        ``signals``, ``needs`` and ``limits`` are the grid-signal, charging-needs and
        charging-limit books their feeds keep current (``streams.signal_feed``,
        ``streams.needs_feed``, ``streams.limit_feed``); without them the computations see
        no signal, no session's needs and no limit.
        """
        self.source = source
        self._signals = signals if signals is not None else SignalBook()
        self._needs = needs if needs is not None else NeedsBook()
        self._limits = limits if limits is not None else LimitBook()
        self._computations: tuple[Computation[Any], ...] = tuple(computations)
        self._registry = registry
        self._publish = publish
        self._store = store
        self._log = checkpoint_log
        self._now = now
        self._seek = seek
        self._retry_delay_s = retry_delay_s
        self._checkpoint_every_s = checkpoint_every_s
        #: One batch or one flush at a time: a checkpoint never holds half a batch.
        self._lock = asyncio.Lock()
        self._retention_ms = key_retention // timedelta(milliseconds=1)
        self._partitions: dict[int, _PartitionState] = {}
        #: Highest input offset applied per partition (for draining and monitoring).
        self.processed: dict[int, int] = {}
        #: Highest input offset checkpointed per partition.
        self.checkpointed: dict[int, int] = {}
        #: Input records applied (decoded ones; undecodable ones are ``bad_records``).
        self.samples_in = 0
        #: The computations' counters (``loads``, ``peaks``, ``rejected``, ...).
        self.counts: Counter[str] = Counter()
        self.bad_records = 0
        #: Publish attempts that failed and were retried; partitions sought back to their
        #: checkpoint; keys dropped after a silence longer than the retention.
        self.publish_retries = 0
        self.rewinds = 0
        self.sites_dropped = 0

    @property
    def signals(self) -> SignalBook:
        """The grid signals the computations see (for waiting on a feed, and inspection)."""
        return self._signals

    async def _partition(self, partition: int) -> _PartitionState:
        state = self._partitions.get(partition)
        if state is None:
            state = _PartitionState(states={c.name: {} for c in self._computations})
            checkpoint = await asyncio.to_thread(self._store.load, self.source.name, partition)
            if self._log is not None:  # the shared one: this host's may be missing or older
                shared = await self._log.read(partition)
                if shared is not None and (checkpoint is None or shared.offset > checkpoint.offset):
                    checkpoint = shared
            if checkpoint is not None:
                state.offset = state.saved_offset = checkpoint.offset
                by_name = {c.name: c for c in self._computations}
                for entry, value in checkpoint.entries.items():
                    name, _, key = entry.partition(":")
                    computation = by_name.get(name)
                    if computation is not None:  # a computation since removed: ignored
                        state.states[name][key] = computation.from_dict(orjson.loads(value))
                log.info(
                    "partition %d: restored %s at offset %d",
                    partition,
                    ", ".join(f"{len(v)} {n} keys" for n, v in state.states.items()),
                    checkpoint.offset,
                )
            self._partitions[partition] = state
        return state

    def _bad_record(
        self, partition: int, offset: int, value: bytes, exc: ValidationError, as_of: datetime
    ) -> DeadLetter:
        self.bad_records += 1
        where = f"{self.source.name}[{partition}]@{offset}"
        log.error("%s: not a %s: %s", where, self.source.record.__name__, exc)
        return DeadLetter(
            source=f"worker:{self.source.name}",
            reason="bad_record",
            detail=f"{where}: {exc.error_count()} error(s): {exc.errors()[0]['msg']}",
            raw=value.decode(errors="replace"),
            received_at=as_of,
        )

    def forget(self, partitions: Sequence[int]) -> None:
        """Drop in-memory state of revoked partitions (it is reloaded from the store)."""
        for p in partitions:
            self._partitions.pop(p, None)

    async def flush(self, partitions: Sequence[int] | None = None) -> None:
        """Checkpoint what ``partitions`` (default: all) applied since their last checkpoint."""
        async with self._lock:
            for partition, state in list(self._partitions.items()):
                if partitions is None or partition in partitions:
                    await self._checkpoint(partition, state)

    async def process(self, batch: Sequence[tuple[int, int, bytes]]) -> None:
        """Apply a batch of ``(partition, offset, value)`` input messages."""
        async with self._lock:
            await self._process(batch)

    async def _process(self, batch: Sequence[tuple[int, int, bytes]]) -> None:
        by_partition: dict[int, list[tuple[int, bytes]]] = {}
        for partition, offset, value in batch:
            by_partition.setdefault(partition, []).append((offset, value))
        outputs: list[Record] = []
        touched: list[tuple[int, _PartitionState, int, set[str], list[str]]] = []
        as_of = self._now()
        context = BatchContext.of_registry(
            as_of, self._registry, signals=self._signals, needs=self._needs, limits=self._limits
        )
        for partition, messages in by_partition.items():
            state = await self._partition(partition)
            fresh = [(o, v) for o, v in messages if o > state.offset]
            if not fresh or not await self._continues(partition, state, fresh[0][0]):
                continue
            samples: list[Any] = []
            for offset, value in fresh:
                try:
                    samples.append(self.source.record.from_json(value))
                except ValidationError as exc:  # a producer bug: keep it, do not stall on it
                    outputs.append(self._bad_record(partition, offset, value, exc, as_of))
            changed: set[str] = set()
            made: list[Record] = []  # this partition's outputs so far, for later computations
            for computation in self._computations:  # one pass: every computation, this batch
                step = computation.process(
                    state.states[computation.name], samples, replace(context, upstream=made)
                )
                made = [*made, *step.records]
                self.counts.update(step.counts)
                changed.update(f"{computation.name}:{key}" for key in step.changed)
            outputs.extend(made)
            self.samples_in += len(samples)
            removed = self._drop_silent(state)
            touched.append((partition, state, fresh[-1][0], changed - set(removed), removed))
        # Outputs first, then the checkpoint: a crash in between re-emits the same
        # revisions, which the warehouse de-duplicates; the other order could lose outputs.
        if outputs:
            await self._publish_until_taken(outputs)
        now = time.monotonic()
        for partition, state, last, changed, removed in touched:
            state.offset = last
            state.unsaved -= set(removed)
            state.unsaved |= changed
            state.dropped -= changed
            state.dropped |= set(removed)
            self.processed[partition] = last
            if now - state.saved_at >= self._checkpoint_every_s:
                await self._checkpoint(partition, state)

    async def _checkpoint(self, partition: int, state: _PartitionState) -> None:
        """Write the partition's unsaved keys and dropped ones with its offset, everywhere."""
        if state.offset == state.saved_offset:
            return
        last = state.offset
        # Keys gathered since a batch may have been dropped since (a silent site).
        changed = {
            e
            for e in state.unsaved
            if e.partition(":")[2] in state.states.get(e.partition(":")[0], {})
        }
        removed = list(state.dropped)
        entries = await asyncio.to_thread(self._entries, state, changed)
        if self._log is not None:
            await self._until_taken(self._log.write, partition, last, entries, removed)
        await asyncio.to_thread(
            self._store.save, self.source.name, partition, last, entries, removed
        )
        state.unsaved.clear()
        state.dropped.clear()
        state.saved_offset = last
        state.saved_at = time.monotonic()
        self.checkpointed[partition] = last

    async def _continues(self, partition: int, state: _PartitionState, first: int) -> bool:
        """Whether input from ``first`` continues the state; else seek back to where it ends.

        Input that resumes past the checkpoint (Faust committed a batch that was never
        checkpointed; a partition with no checkpoint at all) is dropped, and the partition
        sought to the checkpoint's offset + 1. Until input at or after that offset and
        before the hole arrives (what the consumer had fetched before the seek comes
        first), the batches are dropped; after ``REWIND_PATIENCE_S`` without it, the hole is
        real (retention deleted that input) and processing goes on.
        """
        expected = state.offset + 1
        if first == expected or self._seek is None:
            state.rewind = None
            return True
        if state.rewind is not None:
            sought, since, hole = state.rewind
            if sought <= first < hole:  # the rewind took effect
                state.rewind = None
                return True
            if time.monotonic() - since < REWIND_PATIENCE_S:
                return False
            log.error(
                "partition %d: no input from offset %d to %d (deleted by retention?); "
                "going on from %d",
                partition,
                sought,
                hole - 1,
                first,
            )
            state.rewind = None
            return True
        log.warning(
            "partition %d: input resumes at offset %d but the state covers up to %d: "
            "seeking back to %d",
            partition,
            first,
            state.offset,
            expected,
        )
        self.rewinds += 1
        state.rewind = (expected, time.monotonic(), first)
        await self._seek(partition, expected)
        return False

    async def _publish_until_taken(self, outputs: Sequence[Record]) -> None:
        """Publish, retrying in place with backoff until the broker acknowledges."""
        await self._until_taken(self._publish, outputs)

    async def _until_taken(self, send: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Await ``send(*args)``, retrying in place with backoff until it succeeds."""
        delay = self._retry_delay_s
        while True:
            try:
                await send(*args)
                return
            except Exception as exc:  # the broker is away: the batch waits, it is not lost
                self.publish_retries += 1
                log.warning("sending to the broker failed (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _drop_silent(self, state: _PartitionState) -> list[str]:
        """Keys silent for longer than the retention behind the partition's newest input.

        Dropped from memory; returned as checkpoint entries to delete from the store.
        """
        newest: dict[str, int] = {}
        by_name = {c.name: c for c in self._computations}
        for name, states in state.states.items():
            for key, value in states.items():
                latest = by_name[name].newest_ms(value)
                if latest is not None:  # a state that says nothing of time is kept
                    newest[f"{name}:{key}"] = latest
        if not newest:
            return []
        cutoff = max(newest.values()) - self._retention_ms
        silent = [entry for entry, latest in newest.items() if latest < cutoff]
        for entry in silent:
            name, _, key = entry.partition(":")
            del state.states[name][key]
        self.sites_dropped += len(silent)
        return silent

    def _entries(self, state: _PartitionState, changed: set[str]) -> dict[str, bytes]:
        """The changed keys' state, serialised (in a thread: off the event loop)."""
        by_name = {c.name: c for c in self._computations}
        entries = {}
        for entry in changed:
            name, _, key = entry.partition(":")
            entries[entry] = orjson.dumps(by_name[name].to_dict(state.states[name][key]))
        return entries


def _holds(state: _PartitionState, entry: str) -> bool:
    """Whether the partition's state still holds the key of a ``<computation>:<key>`` entry."""
    name, _, key = entry.partition(":")
    return key in state.states.get(name, {})


def faust_seek(app: faust.App, source: Topic = topics.METER_SAMPLES) -> Seek:
    """A ``Seek`` through the Faust app's consumer (the next fetch starts at the offset)."""

    async def seek(partition: int, offset: int) -> None:
        await app.consumer.seek(TP(source.name, partition), offset)

    return seek


def register(app: faust.App, settings: Settings, worker: BatchWorker, name: str) -> Any:
    """Attach an agent ``name`` to ``app``, reading the worker's input topic in batches."""
    source = app.topic(worker.source.name, key_serializer="raw", value_serializer="raw")

    async def agent(stream: Any) -> None:  # faust.Stream; its stubs lack take_events
        events: Sequence[EventT[bytes]]
        async for events in stream.take_events(
            settings.worker_batch_size, within=settings.worker_batch_within_s
        ):
            started = time.perf_counter()
            await worker.process([(e.message.partition, e.message.offset, e.value) for e in events])
            metrics.WORKER_BATCH_SECONDS.labels(name).observe(time.perf_counter() - started)
            metrics.WORKER_BATCH_RECORDS.labels(name).observe(len(events))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's signal stubs
    async def _revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        mine = [tp.partition for tp in revoked if tp.topic == source.get_topic_name()]
        await worker.flush(mine)  # the next owner goes on from here, not from further back
        worker.forget(mine)

    return app.agent(source, name=name)(agent)
