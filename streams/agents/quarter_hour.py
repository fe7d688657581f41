"""Faust shell for quarter-hour load and peaks: meter.samples -> load.*quarter_hour, peaks.

No arithmetic and no time rules here (``streams.compute.processor`` has them): this module
takes batches from the stream, keeps one ``SiteState`` per site grouped by input partition,
publishes the outputs, sends rejections to the dead-letter topic, and snapshots each
partition's state with the offset it covers (``streams.snapshots``) before Faust commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import faust
from faust.types import EventT
from pydantic import ValidationError

from gridstream import topics
from gridstream.records import DeadLetter, MeterSample, Record
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.compute.processor import SiteConfig, SiteState, process_batch
from streams.snapshots import Snapshot, SnapshotStore

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "quarter_hour"


class Publish(Protocol):
    """Sends records and returns once the broker acknowledged them."""

    async def __call__(self, records: Sequence[Record]) -> None:
        """Produce ``records``; raise if the broker did not acknowledge them."""


@dataclass
class _PartitionState:
    offset: int = -1
    sites: dict[str, SiteState] = field(default_factory=dict)


class QuarterHourWorker:
    """The agent's state and I/O around ``process_batch``; one per worker process."""

    def __init__(
        self,
        config: SiteConfig,
        registry: SiteRegistry,
        publish: Publish,
        snapshots: SnapshotStore,
        now: Callable[[], datetime],
    ) -> None:
        """Wire the computation to its publisher, snapshot store and clock."""
        self._config = config
        self._registry = registry
        self._publish = publish
        self._snapshots = snapshots
        self._now = now
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

    def _partition(self, partition: int) -> _PartitionState:
        state = self._partitions.get(partition)
        if state is None:
            state = _PartitionState()
            snap = self._snapshots.load(topics.METER_SAMPLES.name, partition)
            if snap is not None:
                state.offset = snap.offset
                state.sites = {s: SiteState.from_dict(d) for s, d in snap.state.items()}
                log.info(
                    "partition %d: restored %d sites at offset %d",
                    partition,
                    len(state.sites),
                    snap.offset,
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
        """Drop in-memory state of revoked partitions (it is reloaded from the snapshot)."""
        for p in partitions:
            self._partitions.pop(p, None)

    async def process(self, batch: Sequence[tuple[int, int, bytes]]) -> None:
        """Apply a batch of ``(partition, offset, value)`` input messages."""
        by_partition: dict[int, list[tuple[int, bytes]]] = {}
        for partition, offset, value in batch:
            by_partition.setdefault(partition, []).append((offset, value))
        outputs: list[Record] = []
        touched: list[tuple[int, _PartitionState, int]] = []
        as_of = self._now()
        for partition, messages in by_partition.items():
            state = self._partition(partition)
            fresh = [(o, v) for o, v in messages if o > state.offset]
            if not fresh:
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
            outputs.extend(step.quirks.outliers)
            outputs.extend(step.peaks)
            outputs.extend(r.to_dead_letter() for r in step.rejections)
            self.samples_in += len(samples)
            self.loads_out += len(step.loads)
            self.peaks_out += len(step.peaks)
            self.rejected += len(step.rejections)
            self.duplicates += step.duplicates
            self.outliers += len(step.quirks.outliers)
            self.resets += step.quirks.resets
            self.estimated += step.quirks.estimated
            touched.append((partition, state, max(o for o, _ in fresh)))
        # Outputs first, then the snapshot: a crash in between re-emits the same revisions,
        # which the warehouse de-duplicates; the other order could lose outputs.
        try:
            await self._publish(outputs)
        except BaseException:
            # The in-memory state already holds this batch, its outputs were not sent: go
            # back to the snapshot, so that the batch, delivered again, emits them again.
            self.forget([partition for partition, _, _ in touched])
            raise
        for partition, state, last in touched:
            state.offset = last
            self._snapshots.save(
                topics.METER_SAMPLES.name,
                partition,
                Snapshot(last, {s: st.to_dict() for s, st in state.sites.items()}),
            )
            self.processed[partition] = last


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
