"""The quarter-hour worker's state through its real input loop and the embedded broker.

A batch is never skipped: outputs the broker does not take are retried in place, and a
worker whose input resumes past its checkpoint (here: a wiped data dir, while the consumer
group's committed offsets stay) seeks back and rebuilds, instead of going on from empty
state. Each run's figures are compared with the batch path over the same samples.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kafka import KafkaAdminClient

from gridstream import topics
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.producer import RecordProducer
from gridstream.records import MeterSample, QuarterHourLoad, Reading, Record
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.agents import batch_consumer, quarter_hour
from streams.checkpoint_log import CheckpointLog
from streams.compute.computation import ComputationStep
from streams.compute.processor import SiteConfig, SiteState, process_batch
from streams.state_store import StateStore

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
SITES = ("SITE-A", "SITE-B", "SITE-C", "SITE-D")


def samples(minutes: range) -> list[MeterSample]:
    """Each site's one EVSE, a register rising 100 Wh a minute (6 kW), one sample a minute."""
    return [
        MeterSample(
            ts=T0 + timedelta(minutes=m),
            station_id=f"CP-{site}",
            site_id=site,
            evse_id=1,
            source="simulator",
            received_at=T0 + timedelta(minutes=m),
            readings=(
                Reading(measurand="Energy.Active.Import.Register", value=100.0 * m, unit="Wh"),
            ),
        )
        for m in minutes
        for site in SITES
    ]


def expected(all_samples: Sequence[MeterSample], config: SiteConfig) -> dict[tuple, float]:
    states: dict[str, SiteState] = {}
    step = process_batch(states, all_samples, config, lambda _: ZoneInfo("UTC"), T0)
    return latest(step.loads)


def latest(records: Sequence[Record]) -> dict[tuple, float]:
    out: dict[tuple, tuple[int, float]] = {}
    for r in records:
        if isinstance(r, QuarterHourLoad):
            key = (r.site_id, r.interval_start)
            if key not in out or r.revision >= out[key][0]:
                out[key] = (r.revision, r.import_wh)
    return {k: wh for k, (_, wh) in out.items()}


async def until(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def worker_loop(
    bootstrap: str,
    group: str,
    state_path: Path,
    settings: Settings,
    publish: Callable[[Sequence[Record]], object],
    *,
    on_failure: Callable[[], object] | None = None,
    **worker: Any,
) -> batch_consumer.WorkerLoop[quarter_hour.QuarterHourWorker]:
    """The quarter-hour worker's input loop in ``group`` (not started); ``worker``: its
    keyword arguments (checkpoint log, interval, computations)."""
    return batch_consumer.worker_loop(
        bootstrap,
        group,
        lambda seek: quarter_hour.QuarterHourWorker(
            SiteConfig.from_settings(settings),
            SiteRegistry("UTC"),
            publish,  # type: ignore[arg-type]
            StateStore(state_path, "epoch"),
            lambda: T0,
            seek,
            retry_delay_s=0.01,
            **worker,
        ),
        quarter_hour.STATE_NAME,
        on_failure=on_failure,
    )


async def run_worker(
    bootstrap: str,
    app_id: str,
    state_path: Path,
    settings: Settings,
    publish: Callable[[Sequence[Record]], object],
    done: Callable[[quarter_hour.QuarterHourWorker], bool],
    checkpoint_log: CheckpointLog | None = None,
) -> quarter_hour.QuarterHourWorker:
    """One worker process's input loop until ``done``; stopping it commits its offsets."""
    loop = worker_loop(
        bootstrap, app_id, state_path, settings, publish, checkpoint_log=checkpoint_log
    )
    await loop.start()
    try:
        await until(lambda: done(loop.worker))
    finally:
        await loop.stop()
    return loop.worker


async def produce(bootstrap: str, records: Sequence[MeterSample]) -> dict[int, int]:
    producer = RecordProducer(bootstrap, client_id="test-worker-state")
    await producer.start()
    try:
        await producer.publish(records)
    finally:
        await producer.stop()
    return {p: o for (t, p), o in producer.acked.items() if t == topics.METER_SAMPLES.name}


async def test_outputs_refused_by_the_broker_are_retried_until_taken(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    config = SiteConfig.from_settings(settings)
    first = samples(range(0, 61))
    published: list[Record] = []
    refusals = 5

    async def flaky(records: Sequence[Record]) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise ConnectionError("broker away")
        published.extend(records)

    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        last = await produce(broker.bootstrap, first)
        worker = await run_worker(
            broker.bootstrap,
            f"t-{uuid.uuid4().hex[:8]}",
            tmp_path / "state.sqlite3",
            settings,
            flaky,
            lambda w: all(w.processed.get(p, -1) >= o for p, o in last.items()),
        )
    assert worker.publish_retries == 5
    assert worker.samples_in == len(first)  # nothing skipped, nothing twice
    assert latest(published) == expected(first, config)


async def test_a_wiped_state_dir_rebuilds_from_the_input_instead_of_going_on_empty(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path)
    config = SiteConfig.from_settings(settings)
    first, second = samples(range(0, 46)), samples(range(46, 61))
    app_id = f"t-{uuid.uuid4().hex[:8]}"
    published: list[Record] = []

    async def collect(records: Sequence[Record]) -> None:
        published.extend(records)

    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        last = await produce(broker.bootstrap, first)
        await run_worker(
            broker.bootstrap,
            app_id,
            tmp_path / "one" / "state.sqlite3",
            settings,
            collect,
            lambda w: all(w.processed.get(p, -1) >= o for p, o in last.items()),
        )
        # The same consumer group, an empty state dir: the loop resumes at its commit.
        published.clear()
        last = await produce(broker.bootstrap, second)
        worker = await run_worker(
            broker.bootstrap,
            app_id,
            tmp_path / "two" / "state.sqlite3",
            settings,
            collect,
            lambda w: all(w.processed.get(p, -1) >= o for p, o in last.items()),
        )
    assert worker.rewinds == len(last)  # each partition with input sought back once
    assert worker.samples_in == len(first) + len(second)
    assert latest(published) == expected(first + second, config)


async def test_state_moves_with_its_partition_to_a_worker_on_another_host(tmp_path: Path) -> None:
    # Host one checkpoints on the topic too; host two has its own, empty, data dir. The
    # partitions move to host two, which restores from the topic and goes on where host
    # one stopped: no rewind, no sample applied twice, the figures of one uninterrupted run.
    settings = Settings(data_dir=tmp_path)
    config = SiteConfig.from_settings(settings)
    first, second = samples(range(0, 46)), samples(range(46, 61))
    app_id = f"t-{uuid.uuid4().hex[:8]}"
    published: list[Record] = []

    async def collect(records: Sequence[Record]) -> None:
        published.extend(records)

    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        logs = [CheckpointLog(broker.bootstrap, "epoch", app_id) for _ in range(2)]
        for log in logs:
            await log.start()
        try:
            last = await produce(broker.bootstrap, first)
            one = await run_worker(
                broker.bootstrap,
                app_id,
                tmp_path / "host-one" / "state.sqlite3",
                settings,
                collect,
                lambda w: all(w.processed.get(p, -1) >= o for p, o in last.items()),
                logs[0],
            )
            last = await produce(broker.bootstrap, second)
            two = await run_worker(
                broker.bootstrap,
                app_id,
                tmp_path / "host-two" / "state.sqlite3",
                settings,
                collect,
                lambda w: all(w.processed.get(p, -1) >= o for p, o in last.items()),
                logs[1],
            )
        finally:
            for log in logs:
                await log.stop()
    assert (one.samples_in, two.samples_in, two.rewinds) == (len(first), len(second), 0)
    assert latest(published) == expected(first + second, config)


def committed(bootstrap: str, group: str) -> dict[int, int]:
    """The group's committed offsets on meter.samples, per partition."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if tp.topic == topics.METER_SAMPLES.name and meta.offset >= 0
    }


async def test_the_group_commits_only_what_the_worker_has_checkpointed(tmp_path: Path) -> None:
    # A checkpoint an hour apart: the worker applies everything but checkpoints nothing,
    # so the group commits nothing (a crash now would replay it all, not skip it); its stop
    # checkpoints, and only then commits the offset after the last sample of each partition.
    settings = Settings(data_dir=tmp_path)
    group = f"t-{uuid.uuid4().hex[:8]}"
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        last = await produce(broker.bootstrap, samples(range(0, 30)))
        loop = worker_loop(
            broker.bootstrap, group, tmp_path / "state.sqlite3", settings, _discard,
            checkpoint_every_s=3600,
        )  # fmt: skip
        await loop.start()
        try:
            await until(lambda: all(loop.worker.processed.get(p, -1) >= o for p, o in last.items()))
            assert await asyncio.to_thread(committed, broker.bootstrap, group) == {}
        finally:
            await loop.stop()
        assert loop.worker.checkpointed == last
        assert await asyncio.to_thread(committed, broker.bootstrap, group) == {
            p: o + 1 for p, o in last.items()
        }


async def _discard(records: Sequence[Record]) -> None:
    """A publisher that takes everything."""


class _Broken:
    """A computation with a bug: it raises on any sample from 10:05 on."""

    name = "broken"

    def process(
        self, states: object, samples: Sequence[MeterSample], context: object
    ) -> ComputationStep:
        if any(s.ts >= T0 + timedelta(minutes=5) for s in samples):
            raise ZeroDivisionError("a bug in a computation")
        return ComputationStep()


async def test_a_worker_whose_computation_raises_stops_and_says_why(tmp_path: Path) -> None:
    # Not a silent stall: the loop calls on_failure (the process stops), its stop re-raises
    # the error, and nothing was checkpointed or committed: not the batch that failed half
    # applied, nor the good ones before it, whose state in memory the failed batch changed.
    # A fixed worker starts from the beginning.
    settings = Settings(data_dir=tmp_path)
    group = f"t-{uuid.uuid4().hex[:8]}"
    failed = asyncio.Event()
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        good = await produce(broker.bootstrap, samples(range(0, 5)))
        loop = worker_loop(
            broker.bootstrap, group, tmp_path / "state.sqlite3", settings, _discard,
            on_failure=failed.set, computations=[_Broken()], checkpoint_every_s=3600,
        )  # fmt: skip
        await loop.start()
        await until(lambda: all(loop.worker.processed.get(p, -1) >= o for p, o in good.items()))
        await produce(broker.bootstrap, samples(range(5, 10)))
        await asyncio.wait_for(failed.wait(), 60)
        with pytest.raises(ZeroDivisionError, match="a bug in a computation"):
            await loop.stop()
        assert loop.worker.checkpointed == {}  # half a batch is never checkpointed
        assert await asyncio.to_thread(committed, broker.bootstrap, group) == {}
