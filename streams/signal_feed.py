"""Keeps a worker's ``SignalBook`` in step with the ``grid.signals`` topic.

Every worker reads all of ``grid.signals`` (not only its partitions' share): a congestion
area's limit or a bidding zone's price concerns sites on every partition. Signals whose
interval ended longer ago than the book's memory are dropped as the feed goes, so that a
year of prices does not stay in memory for ever.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from pydantic import ValidationError

from gridstream import topics
from gridstream.follow import follow_topic
from gridstream.periods import from_epoch_ms, to_epoch_ms
from gridstream.records import GridSignal
from streams.compute.signal_book import SignalBook

log = logging.getLogger(__name__)

#: Signals whose interval ended this long before the newest signal's start are forgotten:
#: past any lateness a computation still revises.
SIGNAL_MEMORY = timedelta(days=40)


async def follow_signals(
    bootstrap: str, book: SignalBook, stop: asyncio.Event, memory: timedelta = SIGNAL_MEMORY
) -> None:
    """Add every signal on ``grid.signals`` to ``book`` until ``stop``.

    A value that is not a grid signal is logged and skipped (the sink dead-letters it).
    """
    newest_ms = 0

    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        nonlocal newest_ms
        if value is None:
            return
        try:
            signal = GridSignal.from_json(value)
        except (ValidationError, ValueError) as exc:
            log.error("%s[%d]@%d: not a grid signal: %s",
                      topics.GRID_SIGNALS.name, partition, offset, exc)  # fmt: skip
            return
        book.add(signal)
        start_ms = to_epoch_ms(signal.interval_start)
        if start_ms > newest_ms + 24 * 3600 * 1000:  # prune at most once a day of signal time
            newest_ms = start_ms
            book.forget_before(from_epoch_ms(start_ms) - memory)

    await follow_topic(bootstrap, topics.GRID_SIGNALS.name, apply, stop, "gridstream-signal-feed")
