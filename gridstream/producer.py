"""Producing canonical records: aiokafka, acks=all, return only once acknowledged.

The hot paths (connectors, agents' outputs) use aiokafka: its ``send()`` is several times
cheaper per record than kafka-python's producer (DESIGN.md, Scale). Each record goes to
the topic its type belongs on, keyed by that topic's key field (``gridstream.topics``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from gridstream import metrics, topics
from gridstream.records import Record


class RecordProducer:
    """Sends canonical records to their topics and waits for the broker's acknowledgement."""

    def __init__(self, bootstrap: str, client_id: str = "gridstream") -> None:
        """Prepare a producer for ``bootstrap``; call ``start()`` before use."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            linger_ms=2,
            # aiokafka's default 16 KiB batch holds ~10 meter samples: with many concurrent
            # senders every full batch wakes them all (measured in bench.scale: 8 answers/s
            # at 10,000 stations; 258/s with 1 MiB batches).
            max_batch_size=1 << 20,
            # Idempotence would need InitProducerId/transactions, which the embedded broker
            # does not do reliably (DESIGN.md); duplicates are handled downstream instead.
            enable_idempotence=False,
            request_timeout_ms=15000,
        )
        self.sent = 0
        #: Highest acknowledged offset per (topic, partition): how far a consumer must read
        #: to have seen everything sent (the embedded broker's reported end can fall short).
        self.acked: dict[tuple[str, int], int] = {}

    async def start(self) -> None:
        """Connect to the broker."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush what is pending and disconnect."""
        await self._producer.stop()

    async def publish(self, records: Sequence[Record]) -> None:
        """Send ``records`` and return once the broker acknowledged every one of them.

        Raises the producer's error if any record was not acknowledged: the caller must
        then not tell its sender that the data was accepted.
        """
        if not records:
            return
        futures = [
            await self._producer.send(topics.for_record(r).name, r.to_json(), key=topics.key_of(r))
            for r in records
        ]
        for meta in await asyncio.gather(*futures):
            key = (meta.topic, meta.partition)
            if meta.offset > self.acked.get(key, -1):
                self.acked[key] = meta.offset
        self.sent += len(records)
        metrics.count_produced(topics.for_record(r).name for r in records)
        metrics.count_dead_letters(records)

    async def __aenter__(self) -> RecordProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
