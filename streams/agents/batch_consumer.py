"""The hot input loop: a plain aiokafka consumer feeds a ``BatchWorker`` in getmany batches.

Why not a Faust agent here: Faust's per-record machinery (its fetch loop's ``wait_first``
per message, the conductor, the stream iterator) costs about 220 us per record whatever the
agent does (DESIGN.md, Scale). At ten readings per meter sample that alone caps a worker
near 45,000 readings/s, and with every computation behind it the Faust agent measured
27,000 readings/s at 1,000 sites (``python -m bench.worker_scale``). The same worker fed
by this loop spends its time in the computations. The flexibility agent, one record per
site and quarter-hour, stays a Faust agent (``streams.agents.batch_worker.register``).

The worker's guarantees are unchanged (``streams.agents.batch_worker``): one decode per
batch, outputs retried in place, state checkpointed with its offset and moved with its
partition, a partition that resumes past its checkpoint sought back. This loop adds one:
the group's committed offset never passes the worker's checkpoint (it commits
``checkpointed + 1``, after the checkpoint), so a restarted or reassigned partition resumes
exactly where its state ends, and nothing is acknowledged that was not applied (Faust's
``take_events`` acks a batch in a ``finally``, even when the agent raised).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata

from gridstream import metrics
from gridstream.broker import group_consumer
from streams.agents.batch_worker import BatchWorker, Seek

log = logging.getLogger(__name__)


def _seek_through(consumer: AIOKafkaConsumer) -> Seek:
    """A ``Seek`` through ``consumer`` on its one topic (its next fetch starts there)."""

    async def seek(partition: int, offset: int) -> None:
        (topic,) = consumer.subscription()
        consumer.seek(TopicPartition(topic, partition), offset)

    return seek


W = TypeVar("W", bound=BatchWorker)


def worker_loop(
    bootstrap: str,
    group_id: str,
    make_worker: Callable[[Seek], W],
    name: str,
    *,
    client_id: str = "gridstream-worker",
    batch_size: int = 1000,
    poll_s: float = 0.25,
    on_failure: Callable[[], object] | None = None,
) -> WorkerLoop[W]:
    """A ``WorkerLoop`` in ``group_id`` for the worker ``make_worker`` builds with its seek.

    Not started: ``await loop.start()``. Call it from a coroutine (aiokafka binds the loop).
    """
    consumer = group_consumer(bootstrap, group_id, client_id)
    worker = make_worker(_seek_through(consumer))
    return WorkerLoop(
        consumer, worker, name, batch_size=batch_size, poll_s=poll_s, on_failure=on_failure
    )


class WorkerLoop(Generic[W]):
    """Runs a ``BatchWorker`` on its input topic through ``consumer``, until stopped.

    ``batch_size``: the most records one batch takes; a fetch that has fewer is processed
    at once (under load batches fill up, idle they stay small and a peak alert goes out
    with the next fetch). ``poll_s``: how long one poll waits for input when there is none.
    ``on_failure`` is called if the loop dies of an error (a bug in a computation): the
    process should then stop (``stop`` re-raises the error) rather than go on consuming
    nothing; its group offsets never passed the checkpoint, so a restart loses nothing.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        worker: W,
        name: str,
        *,
        batch_size: int = 1000,
        poll_s: float = 0.25,
        on_failure: Callable[[], object] | None = None,
    ) -> None:
        """Wire ``worker`` to ``consumer``; ``name`` labels its metrics and task."""
        self._on_failure = on_failure
        self._consumer = consumer
        self._worker = worker
        self._name = name
        self._batch_size = batch_size
        self._poll_ms = max(1, int(poll_s * 1000))
        self._committed: dict[int, int] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def worker(self) -> W:
        """The worker it feeds."""
        return self._worker

    @property
    def consumer(self) -> AIOKafkaConsumer:
        """The consumer (for lag sampling)."""
        return self._consumer

    async def start(self) -> None:
        """Join the group on the worker's input topic and start processing."""
        self._consumer.subscribe([self._worker.source.name], listener=_Rebalance(self))
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"worker:{self._name}")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("%s stopped processing: %r", self._name, task.exception())
        if self._on_failure is not None:
            self._on_failure()

    async def stop(self) -> None:
        """Finish the batch under way, checkpoint everything, commit it and leave the group.

        If the loop died of an error, that error is raised instead, and nothing is
        checkpointed: the failed batch may be half applied to the state in memory.
        """
        self._stop.set()
        try:
            if self._task is not None:
                await self._task
        except BaseException:
            await self._consumer.stop()
            raise
        await self._worker.flush()
        await self._commit(self._consumer.assignment())
        await self._consumer.stop()

    async def _run(self) -> None:
        topic = self._worker.source.name
        while not self._stop.is_set():
            fetched = await self._consumer.getmany(
                timeout_ms=self._poll_ms, max_records=self._batch_size
            )
            batch = [
                (tp.partition, m.offset, m.value)
                for tp, messages in fetched.items()
                if tp.topic == topic
                for m in messages
            ]
            if batch:
                started = time.perf_counter()
                await self._worker.process(batch)
                metrics.WORKER_BATCH_SECONDS.labels(self._name).observe(
                    time.perf_counter() - started
                )
                metrics.WORKER_BATCH_RECORDS.labels(self._name).observe(len(batch))
            await self._commit(self._consumer.assignment())

    async def _commit(self, partitions: Collection[TopicPartition]) -> None:
        """Commit, for ``partitions``, the offset after what the worker has checkpointed."""
        offsets = {}
        for tp in partitions:
            checkpointed = self._worker.checkpointed.get(tp.partition)
            if checkpointed is not None and checkpointed + 1 > self._committed.get(tp.partition, 0):
                offsets[tp] = OffsetAndMetadata(checkpointed + 1, "")
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took partitions away: their checkpoints say where the next owner
            # goes on (it seeks back if its commit is behind), so nothing is lost.
            log.warning("%s could not commit %s: %s", self._name, offsets, exc)
            return
        for tp, meta in offsets.items():
            self._committed[tp.partition] = meta.offset

    async def on_revoked(self, revoked: Collection[TopicPartition]) -> None:
        """Checkpoint and commit the partitions leaving, then drop their state from memory."""
        mine = [tp for tp in revoked if tp.topic == self._worker.source.name]
        partitions = [tp.partition for tp in mine]
        await self._worker.flush(partitions)  # the next owner goes on from here
        with contextlib.suppress(Exception):  # the group may already be rebalancing
            await self._commit(mine)
        self._worker.forget(partitions)
        for p in partitions:
            self._committed.pop(p, None)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, loop: WorkerLoop[Any]) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        await self._loop.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        """Nothing to do: the worker restores a partition's state on its first batch."""
