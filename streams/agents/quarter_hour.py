"""The quarter-hour agent: meter.samples -> site load and every analytic after it.

The worker's guarantees (one decode per batch, outputs retried in place, state
checkpointed with its offset and moved with its partition) are ``streams.agents.
batch_worker``'s, and its input loop is ``streams.agents.batch_consumer``'s (a Faust agent,
``register``, is kept to compare in ``bench.worker_scale``); this module names the
computations over meter.samples: the site load (``streams.compute.processor``:
quarter-hour load, per-EVSE load, monthly peaks) first, then the analytics
(``streams.compute.analytics``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import faust

from gridstream import topics
from gridstream.records import MeterSample
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.agents import batch_worker
from streams.agents.batch_worker import KEY_RETENTION, BatchWorker, Publish, Seek
from streams.checkpoint_log import CheckpointLog
from streams.compute.computation import Computation, SiteLoad
from streams.compute.limit_book import LimitBook
from streams.compute.needs_book import NeedsBook
from streams.compute.processor import SiteConfig
from streams.compute.signal_book import SignalBook
from streams.state_store import StateStore

STATE_NAME = "quarter_hour"
"""The agent's name; its state store is ``<data dir>/state/quarter_hour.sqlite3``."""

GROUP = "gridstream"
"""The workers' consumer group on meter.samples (and their checkpoints' namespace)."""

#: How long a site may stay silent, behind its partition's newest reading, before its state
#: is dropped from memory and from the store: past every month it could still revise.
SITE_RETENTION = KEY_RETENTION


class QuarterHourWorker(BatchWorker):
    """The batch worker over meter.samples: the site load first, the analytics after it."""

    def __init__(
        self,
        config: SiteConfig,
        registry: SiteRegistry,
        publish: Publish,
        store: StateStore,
        now: Callable[[], datetime],
        seek: Seek | None = None,
        *,
        retry_delay_s: float = 0.2,
        site_retention: timedelta = SITE_RETENTION,
        computations: Sequence[Computation[MeterSample]] = (),
        checkpoint_log: CheckpointLog | None = None,
        signals: SignalBook | None = None,
        needs: NeedsBook | None = None,
        limits: LimitBook | None = None,
        checkpoint_every_s: float = 0.0,
    ) -> None:
        """The site chain with ``config``, then ``computations``, over meter.samples."""
        super().__init__(
            topics.METER_SAMPLES,
            (SiteLoad(config), *computations),
            registry,
            publish,
            store,
            now,
            seek,
            retry_delay_s=retry_delay_s,
            key_retention=site_retention,
            checkpoint_log=checkpoint_log,
            signals=signals,
            needs=needs,
            limits=limits,
            checkpoint_every_s=checkpoint_every_s,
        )

    @property
    def loads_out(self) -> int:
        """Site quarter-hour loads published (revisions included)."""
        return self.counts["loads"]

    @property
    def peaks_out(self) -> int:
        """Monthly peaks published (revisions included)."""
        return self.counts["peaks"]

    @property
    def rejected(self) -> int:
        """Samples refused (too late) and records that were no meter sample."""
        return self.counts["rejected"] + self.bad_records

    @property
    def duplicates(self) -> int:
        """Readings that changed nothing."""
        return self.counts["duplicates"]

    @property
    def outliers(self) -> int:
        """Register readings dropped as misreads (each dead-lettered)."""
        return self.counts["outliers"]

    @property
    def resets(self) -> int:
        """Readings that started a new register segment (resets, new meters, jumps)."""
        return self.counts["resets"]

    @property
    def estimated(self) -> int:
        """Site quarter-hour figures emitted as estimated."""
        return self.counts["estimated"]

    @property
    def sites(self) -> dict[int, dict[str, Any]]:
        """Per partition, the site load's state by site (for inspection and tests)."""
        return {p: st.states.get(SiteLoad.name, {}) for p, st in self._partitions.items()}


def faust_seek(app: faust.App) -> Seek:
    """A ``Seek`` on meter.samples through the Faust app's consumer."""
    return batch_worker.faust_seek(app, topics.METER_SAMPLES)


def register(app: faust.App, settings: Settings, worker: QuarterHourWorker) -> Any:
    """Attach the quarter-hour agent to ``app``, reading meter.samples in batches."""
    return batch_worker.register(app, settings, worker, STATE_NAME)
