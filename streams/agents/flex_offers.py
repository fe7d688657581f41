"""The flexibility agent: flex.sites -> flex.offers, the sites' figures summed per area.

The second stage of the flexibility (``streams.compute.flex_offers``): the quarter-hour
worker's analytics emit each site's figures keyed by congestion area, so that here one
worker holds every site of an area. Same shell and guarantees as the quarter-hour agent
(``streams.agents.batch_worker``), with its own checkpoints (``state.flex_sites``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import faust

from gridstream import topics
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.agents import batch_worker
from streams.agents.batch_worker import BatchWorker, Publish, Seek
from streams.checkpoint_log import CheckpointLog
from streams.compute.flex_offers import FlexOffers
from streams.state_store import StateStore

STATE_NAME = "flex_offers"
"""The agent's name; its state store is ``<data dir>/state/flex_offers.sqlite3``."""

GROUP = "gridstream-flex"
"""The Faust app id, its consumer group on flex.sites and its checkpoints' namespace."""


def flex_offers_worker(
    registry: SiteRegistry,
    publish: Publish,
    store: StateStore,
    now: Callable[[], datetime],
    seek: Seek | None = None,
    *,
    checkpoint_log: CheckpointLog | None = None,
    checkpoint_every_s: float = 0.0,
) -> BatchWorker:
    """The batch worker over flex.sites with the one computation that sums areas."""
    return BatchWorker(
        topics.FLEX_SITES,
        [FlexOffers()],
        registry,
        publish,
        store,
        now,
        seek,
        checkpoint_log=checkpoint_log,
        checkpoint_every_s=checkpoint_every_s,
    )


def faust_seek(app: faust.App) -> Seek:
    """A ``Seek`` on flex.sites through the Faust app's consumer."""
    return batch_worker.faust_seek(app, topics.FLEX_SITES)


def register(app: faust.App, settings: Settings, worker: BatchWorker) -> Any:
    """Attach the flexibility agent to ``app``, reading flex.sites in batches."""
    return batch_worker.register(app, settings, worker, STATE_NAME)
