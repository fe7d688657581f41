"""Keeps an in-memory ``SiteRegistry`` in step with the compacted ``registry.sites`` topic.

Whoever publishes an assignment (the sites file at start, the simulator, an operator's
tool against a production cluster) changes the site of a station for every record the
connector builds from then on; the worker takes the site's time zone from the same object.
The feed reads the whole topic from the beginning, without a consumer group, so every
process sees every assignment.
"""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfoNotFoundError

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from gridstream import topics
from gridstream.errors import BrokerError
from gridstream.records import SiteAssignment
from gridstream.registry import SiteRegistry

log = logging.getLogger(__name__)


async def follow_registry(bootstrap: str, registry: SiteRegistry, stop: asyncio.Event) -> int:
    """Apply every assignment on ``registry.sites`` to ``registry`` until ``stop``.

    Returns how many assignments were applied. A value that is not a valid assignment is
    logged and skipped: the registry is configuration, and one bad entry must not stop
    the pipeline (the sink sends it to the dead-letter topic).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="gridstream-registry-feed",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    applied = 0
    try:
        await consumer.topics()  # fetch metadata: partitions_for_topic reads only the cache
        partitions = consumer.partitions_for_topic(topics.REGISTRY_SITES.name)
        if not partitions:
            raise BrokerError(
                f"topic {topics.REGISTRY_SITES.name} does not exist on {bootstrap}; "
                "gridstream creates it at start (gridstream.broker.ensure_topics)"
            )
        consumer.assign([TopicPartition(topics.REGISTRY_SITES.name, p) for p in partitions])
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    if message.value is None:  # tombstone: the station left the registry
                        if message.key is not None:
                            registry.unassign(message.key.decode())
                        continue
                    try:
                        registry.assign(SiteAssignment.from_json(message.value))
                        applied += 1
                    except (ValidationError, ValueError, ZoneInfoNotFoundError) as exc:
                        log.error("registry.sites[%d]@%d: not an assignment: %s",
                                  message.partition, message.offset, exc)  # fmt: skip
    finally:
        await consumer.stop()
    return applied
