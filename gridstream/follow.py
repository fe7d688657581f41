"""Follow a whole topic in every process: the side inputs (registry, grid signals).

A side input is small and changes slowly; every process that needs it reads all of it from
the beginning, without a consumer group, and keeps following it until stopped, so that a
change takes effect in running processes without a restart (what Faust calls a global
table, without Faust's per-record cost).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from gridstream.errors import BrokerError

#: Called with each message's key and value (None: a tombstone), partition and offset.
OnMessage = Callable[[bytes | None, bytes | None, int, int], None]


async def follow_topic(
    bootstrap: str,
    topic: str,
    on_message: OnMessage,
    stop: asyncio.Event,
    client_id: str,
    *,
    from_end: bool = False,
) -> None:
    """Hand every message of every partition of ``topic`` to ``on_message`` until ``stop``.

    ``from_end``: only the messages that arrive from now on (a live view of a large topic).
    Raises ``BrokerError`` when the topic does not exist (gridstream creates its topics at
    start: ``gridstream.broker.ensure_topics``).
    """
    await follow_topics(
        bootstrap, {topic: on_message}, stop, client_id, from_end={topic} if from_end else ()
    )


async def follow_topics(
    bootstrap: str,
    handlers: Mapping[str, OnMessage],
    stop: asyncio.Event,
    client_id: str,
    *,
    from_end: Collection[str] = (),
) -> None:
    """``follow_topic`` for several topics through one consumer: each to its handler.

    ``from_end``: the topics followed only from now on.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await consumer.topics()  # fetch metadata: partitions_for_topic reads only the cache
        assigned = []
        for topic in handlers:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise BrokerError(
                    f"topic {topic} does not exist on {bootstrap}; "
                    "gridstream creates it at start (gridstream.broker.ensure_topics)"
                )
            assigned += [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        live = [tp for tp in assigned if tp.topic in from_end]
        if live:
            await consumer.seek_to_end(*live)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for tp, messages in batches.items():
                on_message = handlers[tp.topic]
                for message in messages:
                    on_message(message.key, message.value, message.partition, message.offset)
    finally:
        await consumer.stop()
