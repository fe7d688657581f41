"""Faust shell for quarter-hour load and peaks: meter.samples -> load.*quarter_hour, peaks.

No arithmetic and no time rules here (``streams.compute.processor`` has them): this module
takes batches from the stream, keeps one ``SiteState`` per site grouped by input partition,
publishes the outputs, sends rejections to the dead-letter topic, and checkpoints what each
batch changed with the offset it covers (``streams.state_store``) before Faust commits.

Never a batch skipped (DESIGN.md; faust's ``take_events`` acks a batch in a ``finally``,
even when the agent raised):

- outputs that cannot be published are retried in place, with backoff, until the broker
  takes them; the agent does not raise, so nothing is acked that was not applied;
- the checkpoint, not Faust's committed offset, says where a partition's state ends: when
  a partition's input resumes past it (Faust committed a batch that a stopped or killed
  worker never checkpointed, or a partition with no checkpoint at all), the worker seeks
  the partition back to the checkpoint's offset + 1 (or to the start of the retained
  input) and drops what arrives before the rewind takes effect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import faust
import orjson
from faust.types import TP, EventT
from pydantic import ValidationError

from gridstream import topics
from gridstream.records import DeadLetter, MeterSample, Record
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.compute.processor import SiteConfig, SiteState, process_batch
from streams.state_store import StateStore

log = logging.getLogger(__name__)

STATE_NAME = "quarter_hour"
"""The computation's name: its state store is ``<data dir>/state/quarter_hour.sqlite3``."""

#: How long a site may stay silent, behind its partition's newest reading, before its state
#: is dropped from memory and from the store: past every month it could still revise.
SITE_RETENTION = timedelta(days=35)

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
        """Seek ``partition`` of meter.samples to ``offset``."""


@dataclass
class _PartitionState:
    offset: int = -1
    sites: dict[str, SiteState] = field(default_factory=dict)
    #: A rewind under way: (the offset sought, when, the first offset of the hole seen).
    rewind: tuple[int, float, int] | None = None


class QuarterHourWorker:
    """The agent's state and I/O around ``process_batch``; one per worker process."""

    def __init__(
        self,
        config: SiteConfig,
        registry: SiteRegistry,
        publish: Publish,
        store: StateStore,
        now: Callable[[], datetime],
        seek: Seek | None = None,
        *,
        retry_delay_s: float = 0.2,
        site_retention: timedelta = SITE_RETENTION,
    ) -> None:
        """Wire the computation to its publisher, state store, clock and consumer seek."""
        self._config = config
        self._registry = registry
        self._publish = publish
        self._store = store
        self._now = now
        self._seek = seek
        self._retry_delay_s = retry_delay_s
        self._retention_ms = site_retention // timedelta(milliseconds=1)
        self._partitions: dict[int, _PartitionState] = {}
        #: Highest input offset applied per partition (for draining and monitoring).
        self.processed: dict[int, int] = {}
        self.samples_in = 0
        self.loads_out = 0
        self.peaks_out = 0
        self.rejected = 0
        self.duplicates = 0
        #: Meter quirks seen (DOMAIN.md): register readings dropped as misreads (each
        #: dead-lettered), segment breaks (resets, new meters), estimated site quarter-hours.
        self.outliers = 0
        self.resets = 0
        self.estimated = 0
        #: Publish attempts that failed and were retried; partitions sought back to their
        #: checkpoint; sites dropped after a silence longer than the retention.
        self.publish_retries = 0
        self.rewinds = 0
        self.sites_dropped = 0

    def _partition(self, partition: int) -> _PartitionState:
        state = self._partitions.get(partition)
        if state is None:
            state = _PartitionState()
            checkpoint = self._store.load(topics.METER_SAMPLES.name, partition)
            if checkpoint is not None:
                state.offset = checkpoint.offset
                state.sites = {
                    site: SiteState.from_dict(orjson.loads(value))
                    for site, value in checkpoint.entries.items()
                }
                log.info(
                    "partition %d: restored %d sites at offset %d",
                    partition,
                    len(state.sites),
                    checkpoint.offset,
                )
            self._partitions[partition] = state
        return state

    def _bad_record(
        self, partition: int, offset: int, value: bytes, exc: ValidationError, as_of: datetime
    ) -> DeadLetter:
        self.rejected += 1
        where = f"{topics.METER_SAMPLES.name}[{partition}]@{offset}"
        log.error("%s: not a meter sample: %s", where, exc)
        return DeadLetter(
            source=f"worker:{topics.METER_SAMPLES.name}",
            reason="bad_record",
            detail=f"{where}: {exc.error_count()} error(s): {exc.errors()[0]['msg']}",
            raw=value.decode(errors="replace"),
            received_at=as_of,
        )

    def forget(self, partitions: Sequence[int]) -> None:
        """Drop in-memory state of revoked partitions (it is reloaded from the store)."""
        for p in partitions:
            self._partitions.pop(p, None)

    async def process(self, batch: Sequence[tuple[int, int, bytes]]) -> None:
        """Apply a batch of ``(partition, offset, value)`` input messages."""
        by_partition: dict[int, list[tuple[int, bytes]]] = {}
        for partition, offset, value in batch:
            by_partition.setdefault(partition, []).append((offset, value))
        outputs: list[Record] = []
        touched: list[tuple[int, _PartitionState, int, set[str], list[str]]] = []
        as_of = self._now()
        for partition, messages in by_partition.items():
            state = self._partition(partition)
            fresh = [(o, v) for o, v in messages if o > state.offset]
            if not fresh or not await self._continues(partition, state, fresh[0][0]):
                continue
            samples: list[MeterSample] = []
            for offset, value in fresh:
                try:
                    samples.append(MeterSample.from_json(value))
                except ValidationError as exc:  # a producer bug: keep it, do not stall on it
                    outputs.append(self._bad_record(partition, offset, value, exc, as_of))
            step = process_batch(
                state.sites,
                samples,
                self._config,
                self._registry.timezone_of,
                as_of,
                self._registry.rated_power_w,
            )
            outputs.extend(step.loads)
            outputs.extend(step.evse_loads)
            outputs.extend(step.peaks)
            outputs.extend(r.to_dead_letter() for r in step.rejections)
            outputs.extend(step.quirks.outliers)
            self.samples_in += len(samples)
            self.loads_out += len(step.loads)
            self.peaks_out += len(step.peaks)
            self.rejected += len(step.rejections)
            self.duplicates += step.duplicates
            self.outliers += len(step.quirks.outliers)
            self.resets += step.quirks.resets
            self.estimated += step.quirks.estimated
            changed = {sample.site_id for sample in samples}
            removed = self._drop_silent(state)
            touched.append((partition, state, fresh[-1][0], changed - set(removed), removed))
        # Outputs first, then the checkpoint: a crash in between re-emits the same
        # revisions, which the warehouse de-duplicates; the other order could lose outputs.
        if outputs:
            await self._publish_until_taken(outputs)
        for partition, state, last, changed, removed in touched:
            state.offset = last
            await asyncio.to_thread(self._checkpoint, partition, state, changed, removed)
            self.processed[partition] = last

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
        delay = self._retry_delay_s
        while True:
            try:
                await self._publish(outputs)
                return
            except Exception as exc:  # the broker is away: the batch waits, it is not lost
                self.publish_retries += 1
                log.warning("publishing %d outputs failed (%s); retrying", len(outputs), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _drop_silent(self, state: _PartitionState) -> list[str]:
        """Sites silent for longer than the retention behind the partition's newest reading."""
        newest: dict[str, int] = {}
        for site, site_state in state.sites.items():
            latest = max((m.newest_ms or 0 for m in site_state.meters.values()), default=0)
            newest[site] = latest
        if not newest:
            return []
        cutoff = max(newest.values()) - self._retention_ms
        silent = [site for site, latest in newest.items() if latest < cutoff]
        for site in silent:
            del state.sites[site]
        self.sites_dropped += len(silent)
        return silent

    def _checkpoint(
        self, partition: int, state: _PartitionState, changed: set[str], removed: list[str]
    ) -> None:
        """Write what the batch changed with its offset (in a thread: off the event loop)."""
        entries = {site: orjson.dumps(state.sites[site].to_dict()) for site in changed}
        self._store.save(topics.METER_SAMPLES.name, partition, state.offset, entries, removed)


def faust_seek(app: faust.App) -> Seek:
    """A ``Seek`` through the Faust app's consumer (the next fetch starts at the offset)."""

    async def seek(partition: int, offset: int) -> None:
        await app.consumer.seek(TP(topics.METER_SAMPLES.name, partition), offset)

    return seek


def register(app: faust.App, settings: Settings, worker: QuarterHourWorker) -> Any:
    """Attach the quarter-hour agent to ``app``, reading meter.samples in batches."""
    source = app.topic(topics.METER_SAMPLES.name, key_serializer="raw", value_serializer="raw")

    async def quarter_hour(stream: Any) -> None:  # faust.Stream; its stubs lack take_events
        events: Sequence[EventT[bytes]]
        async for events in stream.take_events(
            settings.worker_batch_size, within=settings.worker_batch_within_s
        ):
            await worker.process([(e.message.partition, e.message.offset, e.value) for e in events])

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's signal stubs
    async def _revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        worker.forget([tp.partition for tp in revoked if tp.topic == source.get_topic_name()])

    return app.agent(source, name="quarter_hour")(quarter_hour)
