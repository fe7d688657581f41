"""Keeps a worker's ``LimitBook`` in step with the ``charging.limits`` topic.

Every worker reads the whole topic, as it does the grid signals: small, and a station's
limits must be known wherever its site's partition is. Periods that ended longer ago than
the book's memory are dropped as the feed goes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from pydantic import ValidationError

from gridstream import topics
from gridstream.follow import follow_topic
from gridstream.records import ChargingLimit
from streams.compute.limit_book import LimitBook

log = logging.getLogger(__name__)

#: Periods that ended this long before the newest one started are forgotten: past any
#: lateness a computation still revises.
LIMIT_MEMORY = timedelta(days=2)


async def follow_limits(
    bootstrap: str, book: LimitBook, stop: asyncio.Event, memory: timedelta = LIMIT_MEMORY
) -> None:
    """Add every charging limit on ``charging.limits`` to ``book`` until ``stop``.

    A value that is not a charging limit is logged and skipped (the sink dead-letters it).
    """
    pruned: datetime | None = None

    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        nonlocal pruned
        if value is None:
            return
        try:
            limit = ChargingLimit.from_json(value)
        except (ValidationError, ValueError) as exc:
            log.error("%s[%d]@%d: not a charging limit: %s",
                      topics.CHARGING_LIMITS.name, partition, offset, exc)  # fmt: skip
            return
        book.add(limit)
        if pruned is None or limit.interval_start > pruned + timedelta(hours=6):
            pruned = limit.interval_start  # prune at most every six hours of limit time
            book.forget_before(pruned - memory)

    await follow_topic(bootstrap, topics.CHARGING_LIMITS.name, apply, stop, "gridstream-limit-feed")
