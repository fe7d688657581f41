"""Keeps a ``Board`` in step with the pipeline's topics (the dashboard's only input).

The derived topics (quarter-hour loads, peaks, alerts, violations, flexibility) and the
side inputs (registry, station boots, grid signals) are small: read whole from the
beginning, so a dashboard started late still shows today. ``meter.samples`` is large and
only the open quarter-hour and the stations' last messages need it: followed from its end.
Samples are handed over in small batches, as the worker takes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from dashboard.board import Board
from gridstream import topics
from gridstream.follow import follow_topics
from gridstream.records import Record

log = logging.getLogger(__name__)

#: Followed from the beginning.
WHOLE = (
    topics.REGISTRY_SITES,
    topics.REGISTRY_STATIONS,
    topics.GRID_SIGNALS,
    topics.LOAD_QUARTER_HOUR,
    topics.PEAKS,
    topics.ALERTS_PEAKS,
    topics.VIOLATIONS_CAPACITY,
    topics.FLEX_OFFERS,
)


async def follow_board(
    bootstrap: str, board: Board, stop: asyncio.Event, now: Callable[[], datetime]
) -> None:
    """Fold every record of the followed topics into ``board`` until ``stop``."""
    pending: list[Record] = []

    def reader(topic: topics.Topic) -> Callable[[bytes | None, bytes | None, int, int], None]:
        def on_message(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
            if value is None:
                return
            try:
                pending.append(topic.record.from_json(value))
            except (ValidationError, ValueError) as exc:  # the sink dead-letters it
                log.debug("%s[%d]@%d: skipped: %s", topic.name, partition, offset, exc)

        return on_message

    async def flush() -> None:
        while not stop.is_set():
            if pending:
                batch = pending[:]
                del pending[: len(batch)]
                board.take(batch, now())
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except TimeoutError:
                pass

    await asyncio.gather(
        flush(),
        follow_topics(
            bootstrap,
            {t.name: reader(t) for t in (*WHOLE, topics.METER_SAMPLES)},
            stop,
            "gridstream-dashboard",
            from_end={topics.METER_SAMPLES.name},  # a live view: the samples from now on
        ),
    )
