"""``python -m bench.worker_scale``: the worker at 100 to 10,000 sites, one and two processes.

For each number of sites, one embedded broker gets the same number of meter samples (ten
readings each, every site's samples a minute apart), produced straight to meter.samples.
Then, beside the plain aiokafka getmany + orjson loop over the same records (the
yardstick, ``bench.baseline``), the quarter-hour worker with every computation (its
consumer loop, local store, checkpoint topic and checkpoint interval, as ``gridstream run``
has them) processes all of them in one process; then the same worker fed by a Faust agent
instead (``batch_worker.register``: what the loop replaced); then two processes of one
consumer group (each a fresh group, from the start). Reported: readings/s, the ratio to the
yardstick, 10,000 sites against 100, two workers against one, and the machine's cores (two
workers need two free cores to double).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import faust

from bench.baseline import bench_baseline
from bench.site_load import READINGS_PER_SAMPLE, _sample
from bench.workers import quarter_hour_worker
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.producer import RecordProducer
from gridstream.records import MeterSample

START = datetime(2026, 1, 15, tzinfo=UTC)


def _samples(sites: int, total: int) -> list[MeterSample]:
    per_site = max(1, total // sites)
    return [_sample(site, 1, minute) for minute in range(per_site) for site in range(sites)]


async def _produce(bootstrap: str, samples: list[MeterSample]) -> None:
    async with RecordProducer(bootstrap, client_id="bench-worker-scale") as producer:
        for i in range(0, len(samples), 5_000):
            await producer.publish(samples[i : i + 5_000])


def _worker_process(
    bootstrap: str,
    app_id: str,
    data_dir: str,
    epoch: str,
    done: Synchronized[int],
    total: int,
    faust_agent: bool = False,
) -> None:
    """One worker process: its own consumer and data dir, until ``done`` reaches ``total``."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_work(bootstrap, app_id, Path(data_dir), epoch, done, total, faust_agent))


async def _work(
    bootstrap: str,
    app_id: str,
    data_dir: Path,
    epoch: str,
    done: Synchronized[int],
    total: int,
    faust_agent: bool = False,
) -> None:
    """The quarter-hour worker with every computation, as ``gridstream run`` has it.

    ``faust_agent``: fed by a Faust agent (``batch_worker.register``) instead of the
    getmany loop ``gridstream run`` uses (``streams.agents.batch_consumer``), to compare.
    """
    from gridstream.settings import Settings
    from streams.agents import batch_consumer, quarter_hour
    from streams.app import create_app
    from streams.checkpoint_log import CheckpointLog

    settings = Settings(data_dir=data_dir)
    producer = RecordProducer(bootstrap, client_id="bench-worker")
    log = CheckpointLog(bootstrap, epoch, app_id)
    await producer.start()
    await log.start()

    make_worker = partial(
        quarter_hour_worker, settings, producer.publish, data_dir / "state.sqlite3",
        checkpoint_log=log, epoch=epoch,
    )  # fmt: skip

    running: faust.App | batch_consumer.WorkerLoop[quarter_hour.QuarterHourWorker]
    if faust_agent:
        running = create_app(settings, bootstrap, app_id=app_id)
        worker = make_worker(quarter_hour.faust_seek(running))
        quarter_hour.register(running, settings, worker)
        running.finalize()
    else:
        running = batch_consumer.worker_loop(
            bootstrap,
            app_id,
            make_worker,
            quarter_hour.STATE_NAME,
            client_id="bench-worker",
            batch_size=settings.worker_batch_size,
        )
        worker = running.worker
    await running.start()
    seen = 0
    try:
        while done.value < total:
            await asyncio.sleep(0.05)
            with done.get_lock():
                done.value += worker.samples_in - seen
            seen = worker.samples_in
    finally:
        await running.stop()
        await log.stop()
        await producer.stop()


def _run_workers(
    bootstrap: str, processes: int, total: int, epoch: str, faust_agent: bool = False
) -> float:
    """Seconds from the first sample processed to the last, over ``processes`` workers."""
    context = multiprocessing.get_context("spawn")
    done = context.Value("q", 0)
    app_id = f"bench-scale-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        workers = [
            context.Process(
                target=_worker_process,
                args=(bootstrap, app_id, f"{tmp}/w{i}", epoch, done, total, faust_agent),
            )
            for i in range(processes)
        ]
        for w in workers:
            w.start()
        while done.value == 0:
            time.sleep(0.01)
        began = time.perf_counter()
        while done.value < total:
            time.sleep(0.01)
        elapsed = time.perf_counter() - began
        for w in workers:
            w.join(timeout=60)
    return elapsed


def measure(sites: int, total: int) -> dict[str, float]:
    """Baseline, one worker and two workers over ``total`` samples of ``sites`` sites."""
    samples = _samples(sites, total)
    readings = len(samples) * READINGS_PER_SAMPLE
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        asyncio.run(_produce(broker.bootstrap, samples))
        baseline = asyncio.run(bench_baseline(broker.bootstrap, len(samples)))
        one = _run_workers(broker.bootstrap, 1, len(samples), broker.cluster_id)
        faust_one = _run_workers(broker.bootstrap, 1, len(samples), broker.cluster_id, True)
        two = _run_workers(broker.bootstrap, 2, len(samples), broker.cluster_id)
    return {
        "sites": float(sites),
        "samples": float(len(samples)),
        "baseline_readings_per_s": baseline["readings_per_s"],
        "one_worker_readings_per_s": readings / one,
        "faust_agent_readings_per_s": readings / faust_one,
        "two_workers_readings_per_s": readings / two,
    }


def report(results: list[dict[str, float]]) -> str:
    """Each scenario beside its yardstick, and the two ratios the issue bounds."""
    lines = [f"cores: {os.cpu_count()}"]
    for r in results:
        base = r["baseline_readings_per_s"]
        lines.append(
            f"{r['sites']:>6.0f} sites: baseline {base:9.0f} readings/s; one worker "
            f"{r['one_worker_readings_per_s']:8.0f} ({r['one_worker_readings_per_s'] / base:.3f}"
            f"); as a Faust agent {r['faust_agent_readings_per_s']:8.0f} "
            f"({r['faust_agent_readings_per_s'] / base:.3f}); two workers "
            f"{r['two_workers_readings_per_s']:8.0f} "
            f"({r['two_workers_readings_per_s'] / base:.3f}), "
            f"x{r['two_workers_readings_per_s'] / r['one_worker_readings_per_s']:.2f} of one"
        )
    if len(results) == 2:
        small, large = results
        lines.append(
            "one worker at 10,000 sites against 100 (same run, back to back): "
            f"x{large['one_worker_readings_per_s'] / small['one_worker_readings_per_s']:.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.worker_scale", description=__doc__)
    parser.add_argument("--samples", type=int, default=40_000)
    parser.add_argument("--sites", type=int, nargs="+", default=[100, 1_000, 10_000])
    args = parser.parse_args()
    print(report([measure(n, args.samples) for n in args.sites]))
