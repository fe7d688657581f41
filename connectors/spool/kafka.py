"""The forwarder's Kafka side: aiokafka, acks=all, one batch per partition, and the epoch.

Entries go to the partition the default partitioner picks for their key (murmur2, as
``RecordProducer`` and every Kafka client do), so a site's records land where records
produced any other way would. A window's entries are grouped per partition, in order,
into ``create_batch`` batches sent with ``send_batch`` (several times the records per
second of one ``send`` per record, DESIGN.md); aiokafka keeps one request in flight per
partition, so the order per partition, and so per key, is the spool's order. Offsets
of a batch's records are its base offset plus their index.

Topics are never created by producing. A producer asks for a topic's metadata with
auto-creation on, so the first record sent to a broker that has just (re)started would
create the topic with the broker's defaults before ``ensure_topics`` creates it from the
catalog; on the embedded broker that race even reset offsets already acknowledged
(measured: later records acknowledged at offsets of earlier ones, and both lost). So each
topic is first looked up with auto-creation off, and a missing one is an error, retried
until the topic exists. After any failure the producer is dropped (its background metadata
refreshes would auto-create topics too) and a new one is started for the next attempt.

The epoch is the cluster id from a Metadata request (version 2 and later), the same value
``gridstream.broker.cluster_id`` reads with the admin client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.structs import RecordMetadata

from connectors.spool.frames import SpoolEntry
from connectors.spool.ledger import Ack
from gridstream import metrics
from gridstream.errors import BrokerError


class KafkaTarget:
    """Produces spool entries to Kafka with acks=all and tells the broker's epoch."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "gridstream-spool",
        request_timeout_s: float = 15.0,
        max_batch_bytes: int = 512 << 10,
    ) -> None:
        """Prepare a producer for ``bootstrap`` (connected on first use)."""
        self.bootstrap = bootstrap
        self._client_id = client_id
        self._request_timeout_ms = int(request_timeout_s * 1000)
        self._max_batch_bytes = max_batch_bytes
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
        #: Partitions of each topic seen to exist (without auto-creation) on this producer.
        self._partitions: dict[str, list[int]] = {}
        self._epoch: str | None = None

    async def connect(self) -> None:
        """Start the producer if it is not running; raise when the broker is away."""
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self._client_id,
            acks="all",
            # Idempotence needs InitProducerId, which the embedded broker does not do
            # reliably (DESIGN.md); the spool is at least once and the views deduplicate.
            enable_idempotence=False,
            linger_ms=0,  # the forwarder batches already
            request_timeout_ms=self._request_timeout_ms,
            max_batch_size=self._max_batch_bytes,
            max_request_size=max(1 << 20, 2 * self._max_batch_bytes),
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self._partitions = {}

    def _running(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BrokerError(f"not connected to {self.bootstrap}")
        return self._producer

    async def epoch(self) -> str:
        """The cluster id the broker reports now."""
        try:
            response = await self._metadata([])
        except BaseException:
            await self.close()
            raise
        cluster_id = getattr(response, "cluster_id", None)
        if not cluster_id:
            raise BrokerError(
                f"the broker at {self.bootstrap} reports no cluster id (Kafka 0.10.1 or "
                "later needed)"
            )
        if self._epoch is not None and cluster_id != self._epoch:
            self._partitions = {}  # a new broker: look its topics up again
        self._epoch = str(cluster_id)
        return self._epoch

    async def _metadata(self, topic_names: list[str]) -> object:
        client = self._running().client
        node = client.get_random_node()
        if node is None:
            raise BrokerError(f"no broker known at {self.bootstrap}")
        return await client.send(
            node, MetadataRequest(topic_names, allow_auto_topic_creation=False)
        )

    async def _topic_partitions(self, names: set[str]) -> dict[str, list[int]]:
        """The partitions of ``names``, looked up without creating any topic."""
        missing = sorted(names - self._partitions.keys())
        if missing:
            response = await self._metadata(missing)
            for topic in response.topics:  # type: ignore[attr-defined]
                error_code, name, partitions = topic[0], topic[1], topic[-1]
                if error_code or not partitions:
                    raise BrokerError(
                        f"topic {name} does not exist on {self.bootstrap} (error code "
                        f"{error_code}); it is created from the catalog (ensure_topics), "
                        "never by producing: retrying"
                    )
                self._partitions[name] = sorted(p[1] for p in partitions)
        return {name: self._partitions[name] for name in names}

    async def send(self, entries: Sequence[SpoolEntry]) -> list[Ack]:
        """Produce ``entries`` in order and return where each landed, once all are acked."""
        try:
            return await self._send(entries)
        except BaseException:
            await self.close()
            raise

    async def _send(self, entries: Sequence[SpoolEntry]) -> list[Ack]:
        producer = self._running()
        partitions = await self._topic_partitions({e.topic for e in entries})
        groups: dict[tuple[str, int], list[int]] = {}
        for index, entry in enumerate(entries):
            known = partitions[entry.topic]
            partition = self._partitioner(entry.key, known, known)
            groups.setdefault((entry.topic, partition), []).append(index)
        sent: list[tuple[asyncio.Future[RecordMetadata], list[int]]] = []
        try:
            for (topic, partition), members in groups.items():
                for batch, in_batch in self._batches(producer, entries, members):
                    future = await producer.send_batch(batch, topic, partition=partition)
                    sent.append((future, in_batch))
        finally:
            if sent:
                # Wait without cancelling aiokafka's futures, and look at every outcome.
                await asyncio.wait([future for future, _ in sent])
        failures = [error for f, _ in sent if (error := f.exception()) is not None]
        if failures:
            raise failures[0]  # every outcome was looked at: none is left unretrieved
        acks: list[Ack] = [Ack("", -1, -1)] * len(entries)
        for future, in_batch in sent:
            meta = future.result()
            for position, index in enumerate(in_batch):
                acks[index] = Ack(meta.topic, meta.partition, meta.offset + position)
        metrics.count_produced(entry.topic for entry in entries)
        return acks

    def _batches(
        self, producer: AIOKafkaProducer, entries: Sequence[SpoolEntry], members: list[int]
    ) -> Iterator[tuple[BatchBuilder, list[int]]]:
        """Closed batches of ``entries[members]``, in order, each as full as it gets."""
        batch = producer.create_batch()
        in_batch: list[int] = []
        for index in members:
            entry = entries[index]
            if batch.append(key=entry.key, value=entry.value, timestamp=None) is None:
                if not in_batch:
                    raise ValueError(
                        f"spool entry {entry.seq} ({entry.size} bytes, {entry.topic}) does not "
                        f"fit a batch of {self._max_batch_bytes} bytes"
                    )
                batch.close()
                yield batch, in_batch
                batch = producer.create_batch()
                in_batch = []
                batch.append(key=entry.key, value=entry.value, timestamp=None)
            in_batch.append(index)
        batch.close()
        yield batch, in_batch

    async def close(self) -> None:
        """Stop the producer (what it still holds is in the spool anyway)."""
        producer, self._producer = self._producer, None
        self._partitions = {}
        if producer is not None:
            await producer.stop()
