"""Keeps a worker's ``NeedsBook`` in step with ``ev.charging_needs`` and ``transactions``.

Every worker reads both topics whole, as it does the grid signals: the flexibility of a
site's sessions needs its EVs' charging needs, and when the sessions end. Of the
transaction events only the ``ended`` ones matter; the others are skipped before they are
decoded (most of the topic), so that following it costs little.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from pydantic import ValidationError

from gridstream import topics
from gridstream.follow import follow_topics
from gridstream.records import EVChargingNeeds, TransactionEvent
from streams.compute.needs_book import NeedsBook

log = logging.getLogger(__name__)

#: How often (in needs or ends taken in) the book forgets what is older than its memory.
_PRUNE_EVERY = 10_000


async def follow_needs(bootstrap: str, book: NeedsBook, stop: asyncio.Event) -> None:
    """Add every charging need and every session end to ``book`` until ``stop``.

    A value that is not the topic's record is logged and skipped (the sink dead-letters it).
    """
    taken = 0
    newest: datetime | None = None

    def prune(ts: datetime) -> None:
        nonlocal taken, newest
        taken += 1
        newest = ts if newest is None else max(newest, ts)
        if taken % _PRUNE_EVERY == 0:
            book.forget_before(newest - book.max_age - timedelta(hours=1))

    def on_needs(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if value is None:
            return
        try:
            needs = EVChargingNeeds.from_json(value)
        except (ValidationError, ValueError) as exc:
            log.error("%s[%d]@%d: not charging needs: %s",
                      topics.EV_CHARGING_NEEDS.name, partition, offset, exc)  # fmt: skip
            return
        book.add_needs(needs)
        prune(needs.ts)

    def on_event(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if value is None or b'"ended"' not in value:
            return
        try:
            event = TransactionEvent.from_json(value)
        except (ValidationError, ValueError) as exc:
            log.error("%s[%d]@%d: not a transaction event: %s",
                      topics.TRANSACTIONS.name, partition, offset, exc)  # fmt: skip
            return
        book.add_event(event)
        prune(event.ts)

    await follow_topics(
        bootstrap,
        {topics.EV_CHARGING_NEEDS.name: on_needs, topics.TRANSACTIONS.name: on_event},
        stop,
        "gridstream-needs-feed",
    )
