"""Several worker processes, one killed with SIGKILL mid-stream, another joining late.

One embedded broker; worker processes of one consumer group, each with its own data dir
(as on separate hosts), checkpointing on the shared checkpoint topic. Two start on the
first half of the input; once a third of the input is processed one of them is killed
with SIGKILL, the second half arrives, and a third worker joins. The site loads on
load.quarter_hour must equal, value by value, what one worker (the batch path) makes of
the same input; no revision of a quarter-hour goes backwards; nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaConsumer

from bench.worker_scale import _worker_process
from gridstream import topics
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.producer import RecordProducer
from gridstream.records import (
    CapacityTariff,
    EnergyBalance,
    HighestPeak,
    MeterSample,
    QuarterHourLoad,
    Reading,
    Record,
)
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.compute.analytics import analytics
from streams.compute.computation import BatchContext, SiteLoad
from streams.compute.processor import SiteConfig, SiteState, process_batch
from warehouse.replay import latest, replay

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
SITES = 24
MINUTES = 75


def samples() -> list[MeterSample]:
    """Site k's one EVSE draws (k + 1) x 1.2 kW, read every minute."""
    return [
        MeterSample(
            ts=T0 + timedelta(minutes=m),
            station_id=f"CP-{k}",
            site_id=f"SITE-{k}",
            evse_id=1,
            source="simulator",
            received_at=T0,
            readings=(
                Reading(
                    measurand="Energy.Active.Import.Register", value=20.0 * (k + 1) * m, unit="Wh"
                ),
            ),
        )
        for m in range(MINUTES)
        for k in range(SITES)
    ]


def reference(all_samples: Sequence[MeterSample]) -> dict[tuple[str, datetime], float]:
    states: dict[str, SiteState] = {}
    config = SiteConfig.from_settings(Settings())
    step = process_batch(states, all_samples, config, lambda _: ZoneInfo("UTC"), T0)
    return {(x.site_id, x.interval_start): x.import_wh for x in step.loads}


async def read_loads(bootstrap: str, until: dict[tuple[str, datetime], float]) -> list:
    """Every QuarterHourLoad on its topic, in offset order, once the latest equal ``until``."""
    consumer = AIOKafkaConsumer(
        topics.LOAD_QUARTER_HOUR.name,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[tuple[int, int, QuarterHourLoad]] = []
    latest: dict[tuple[str, datetime], tuple[int, float]] = {}
    deadline = asyncio.get_running_loop().time() + 120
    try:
        while {k: v for k, (_, v) in latest.items()} != until:
            assert asyncio.get_running_loop().time() < deadline, (
                f"{len(latest)} of {len(until)} quarter-hours"
            )
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                for m in messages:
                    load = QuarterHourLoad.from_json(m.value)
                    seen.append((tp.partition, m.offset, load))
                    key = (load.site_id, load.interval_start)
                    if key not in latest or load.revision >= latest[key][0]:
                        latest[key] = (load.revision, load.import_wh)
    finally:
        await consumer.stop()
    return seen


def analytics_reference(
    all_samples: Sequence[MeterSample],
) -> dict[type[Record], dict[Any, Record]]:
    """What one worker's analytics make of the input, latest per identity (the batch path)."""
    registry = SiteRegistry()  # as the bench worker has it: no entries, Brussels time
    settings = Settings()
    made = replay(
        all_samples,
        [SiteLoad(SiteConfig.from_settings(settings)), *analytics(settings)],
        BatchContext.of_registry(T0, registry),
    )
    return {kind: latest(made, kind) for kind in (HighestPeak, CapacityTariff, EnergyBalance)}


async def read_latest(
    bootstrap: str, topic: topics.Topic, expected: dict[Any, Record]
) -> dict[Any, Record]:
    """The latest revision per identity on ``topic``, once it equals ``expected``'s figures."""
    consumer = AIOKafkaConsumer(
        topic.name, bootstrap_servers=bootstrap, group_id=None,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    seen: list[Record] = []
    deadline = asyncio.get_running_loop().time() + 60
    try:
        while True:
            got = latest(seen, topic.record)
            if {k: values_of(v) for k, v in got.items()} == {
                k: values_of(v) for k, v in expected.items()
            }:
                return got
            if asyncio.get_running_loop().time() > deadline:
                return got  # the caller's comparison names the difference
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                seen += [topic.record.from_json(m.value) for m in messages]
    finally:
        await consumer.stop()


def values_of(record: Record) -> dict[str, Any]:
    """A record's values, without when and how often it was computed."""
    return record.model_dump(exclude={"revision", "as_of"})


async def produce(bootstrap: str, records: Sequence[MeterSample]) -> None:
    async with RecordProducer(bootstrap, client_id="test-scale-out") as producer:
        await producer.publish(records)


def test_a_worker_killed_mid_stream_and_one_joining_change_no_figure() -> None:
    data = samples()
    expected = reference(data)
    expected_analytics = analytics_reference(data)
    context = multiprocessing.get_context("spawn")
    done = context.Value("q", 0)
    app_id = f"scale-out-{uuid.uuid4().hex[:8]}"
    never = 10**12  # the workers run until the test stops them
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        ensure_topics(broker.bootstrap)
        half = len(data) // 2
        asyncio.run(produce(broker.bootstrap, data[:half]))  # the second half comes later

        def start(name: str) -> multiprocessing.process.BaseProcess:
            process = context.Process(
                target=_worker_process,
                args=(broker.bootstrap, app_id, f"{tmp}/{name}", broker.cluster_id, done, never),
            )
            process.start()
            return process

        workers = [start("one"), start("two")]
        try:
            deadline = time.monotonic() + 120
            while done.value < len(data) // 3:  # a third of the input processed
                assert all(w.is_alive() for w in workers) and time.monotonic() < deadline
                time.sleep(0.02)
            assert workers[0].pid is not None
            os.kill(workers[0].pid, signal.SIGKILL)  # mid-stream, nothing flushed
            workers[0].join()
            asyncio.run(produce(broker.bootstrap, data[half:]))
            workers.append(start("three"))
            seen = asyncio.run(read_loads(broker.bootstrap, expected))
            # The analytics resume with the same results too: highest peaks, capacity
            # tariffs and energy balances equal one uninterrupted batch's, value by value.
            for topic, kind in (
                (topics.PEAKS_HIGHEST, HighestPeak),
                (topics.TARIFFS_CAPACITY, CapacityTariff),
                (topics.BALANCES_V2X, EnergyBalance),
            ):
                want = expected_analytics[kind]
                got = asyncio.run(read_latest(broker.bootstrap, topic, want))
                assert len(want) > 0, kind
                assert {k: values_of(v) for k, v in got.items()} == {
                    k: values_of(v) for k, v in want.items()
                }, kind
        finally:
            for w in workers:
                if w.is_alive():
                    w.kill()
                w.join()
    assert workers[0].exitcode == -signal.SIGKILL
    # no revision goes backwards: per quarter-hour, in the order each partition holds them,
    # a revision never drops, and one revision always says the same figure (re-emitted
    # after the kill, never changed)
    revisions: dict[tuple[str, datetime], int] = {}
    figures: dict[tuple[tuple[str, datetime], int], float] = {}
    for _partition, _offset, load in sorted(seen, key=lambda x: (x[0], x[1])):
        key = (load.site_id, load.interval_start)
        assert (
            load.revision >= revisions.get(key, -1)
            or figures.get((key, load.revision)) == load.import_wh
        )
        revisions[key] = max(revisions.get(key, -1), load.revision)
        assert figures.setdefault((key, load.revision), load.import_wh) == load.import_wh
