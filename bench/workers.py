"""The quarter-hour worker as the benches run it: every computation, as ``gridstream run``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.agents.batch_worker import Publish, Seek
from streams.agents.quarter_hour import QuarterHourWorker
from streams.checkpoint_log import CheckpointLog
from streams.compute.analytics import analytics
from streams.compute.processor import SiteConfig
from streams.state_store import StateStore


def quarter_hour_worker(
    settings: Settings,
    publish: Publish,
    state_path: Path,
    seek: Seek | None,
    checkpoint_log: CheckpointLog | None = None,
    epoch: str | None = None,
) -> QuarterHourWorker:
    """The worker with every analytic, its store at ``state_path``, the wall clock."""
    return QuarterHourWorker(
        SiteConfig.from_settings(settings),
        SiteRegistry(),
        publish,
        StateStore(state_path, epoch or uuid.uuid4().hex),
        lambda: datetime.now(UTC),
        seek,
        checkpoint_log=checkpoint_log,
        computations=analytics(settings),
        checkpoint_every_s=settings.checkpoint_interval_s,
    )
