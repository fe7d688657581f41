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

from pydantic import ValidationError

from gridstream import topics
from gridstream.follow import follow_topic
from gridstream.records import SiteAssignment
from gridstream.registry import SiteRegistry

log = logging.getLogger(__name__)


async def follow_registry(bootstrap: str, registry: SiteRegistry, stop: asyncio.Event) -> int:
    """Apply every assignment on ``registry.sites`` to ``registry`` until ``stop``.

    Returns how many assignments were applied. A value that is not a valid assignment is
    logged and skipped: the registry is configuration, and one bad entry must not stop
    the pipeline (the sink sends it to the dead-letter topic).
    """
    applied = 0

    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        nonlocal applied
        if value is None:  # tombstone: the station left the registry
            if key is not None:
                registry.unassign(key.decode())
            return
        try:
            registry.assign(SiteAssignment.from_json(value))
            applied += 1
        except (ValidationError, ValueError, ZoneInfoNotFoundError) as exc:
            log.error("%s[%d]@%d: not an assignment: %s",
                      topics.REGISTRY_SITES.name, partition, offset, exc)  # fmt: skip

    await follow_topic(
        bootstrap, topics.REGISTRY_SITES.name, apply, stop, "gridstream-registry-feed"
    )
    return applied
