"""Worker checkpoints on a compacted Kafka topic, so that state moves with its partition.

The local store (``streams.state_store``) is on one host's disk; a partition that moves to
a worker on another host (or to one whose data dir was wiped) must find its state where
every worker can read it. ``CheckpointLog`` keeps each input partition's checkpoint on the
same partition of ``topics.CHECKPOINTS``: one entry per ``<computation>:<key>`` (a tombstone
when the key is dropped) and an offset marker (``OFFSET_KEY``: the broker epoch and the
input offset the entries reflect), written after the entries. Every key is prefixed with
the worker group's ``namespace`` (its Faust app id, which is its consumer group): groups
consuming the same input from their own offsets keep their own checkpoints.

Reading a partition back must reach its true end, and the embedded broker under-reports
the end (ListOffsets, DESIGN.md). So ``read`` first writes a barrier (``BARRIER_KEY``, a
fresh id) to the partition, learns its offset from the acknowledgement, and reads from the
beginning until that offset: everything written before the barrier has been seen. This
needs nothing of ListOffsets, and is as right on Apache Kafka as on the embedded broker.

A checkpoint is consistent because of the order of writes: the entries of a batch are
acknowledged before its marker is sent, and a worker reads the latest marker with the
latest entries. A reader may see entries newer than the marker (a writer that died
between the two): the worker then re-applies input from the marker's offset + 1 to
state that already holds some of it, which the computations' duplicate rule makes harmless
(a reading applied twice changes nothing; revisions of outputs are recomputed).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gridstream import topics
from streams.state_store import Checkpoint

OFFSET_KEY = b"\x00offset"
"""Key of a partition's offset marker (then ``/<namespace>``): ``{"epoch", "offset"}``."""
BARRIER_KEY = b"\x00barrier"
"""Key of the records ``read`` writes to find the partition's end."""


class CheckpointLog:
    """Checkpoints of the worker's computations for one broker ``epoch``, on Kafka."""

    def __init__(
        self,
        bootstrap: str,
        epoch: str,
        namespace: str = "gridstream",
        topic: str = topics.CHECKPOINTS.name,
    ) -> None:
        """Prepare producer and reader for ``bootstrap``; call ``start()`` before use."""
        self._bootstrap = bootstrap
        self._epoch = epoch
        self._prefix = f"{namespace}/"
        self._marker = OFFSET_KEY + b"/" + namespace.encode()
        self._topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="gridstream-checkpoints",
            acks="all",
            linger_ms=2,
            max_batch_size=1 << 20,
            max_request_size=16 << 20,
            compression_type="gzip",  # a site's state is repetitive JSON
            enable_idempotence=False,
        )

    async def start(self) -> None:
        """Connect the producer."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        await self._producer.stop()

    async def write(
        self,
        partition: int,
        offset: int,
        entries: Mapping[str, bytes],
        removed: Iterable[str] = (),
    ) -> None:
        """Send the entries and tombstones, then the marker for ``offset``; wait for acks."""
        send = self._producer.send
        prefix = self._prefix
        futures = [
            await send(self._topic, value, key=(prefix + key).encode(), partition=partition)
            for key, value in entries.items()
        ]
        futures += [
            await send(self._topic, None, key=(prefix + key).encode(), partition=partition)
            for key in removed
        ]
        for future in futures:
            await future
        marker = orjson.dumps({"epoch": self._epoch, "offset": offset})
        await (await send(self._topic, marker, key=self._marker, partition=partition))

    async def read(self, partition: int) -> Checkpoint | None:
        """The partition's latest checkpoint of this epoch, read to the end; None if none."""
        barrier = uuid.uuid4().hex.encode()
        meta = await (
            await self._producer.send(self._topic, barrier, key=BARRIER_KEY, partition=partition)
        )
        end = meta.offset
        tp = TopicPartition(self._topic, partition)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id="gridstream-checkpoints-reader",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=64 << 20,
            max_partition_fetch_bytes=64 << 20,
        )
        await consumer.start()
        entries: dict[str, bytes] = {}
        marker: dict[str, object] | None = None
        prefix = self._prefix
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            done = False
            while not done:
                batches = await consumer.getmany(tp, timeout_ms=1000)
                for message in batches.get(tp, []):
                    if message.offset >= end:
                        done = True
                        break
                    key = message.key or b""
                    if key == self._marker:
                        marker = orjson.loads(message.value) if message.value else None
                        continue
                    name = key.decode(errors="replace")
                    if not name.startswith(prefix):  # a barrier, another group's
                        continue
                    name = name[len(prefix) :]
                    if message.value is None:
                        entries.pop(name, None)
                    else:
                        entries[name] = message.value
        finally:
            await consumer.stop()
        if marker is None or marker.get("epoch") != self._epoch:
            return None
        offset = marker["offset"]
        assert isinstance(offset, int)
        return Checkpoint(offset, entries)
