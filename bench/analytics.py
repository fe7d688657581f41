"""``python -m bench.analytics``: what the analytics cost, and how fast a peak alert goes out.

1. compute: 1,000 sites, two EVSEs each read every minute (``bench.site_load`` samples: ten
   readings, one EVSE charging while the other discharges), through the worker's one pass
   twice, alternating: the site load alone, and the site load with every analytic of
   ``streams.compute.analytics`` after it (peak alerts, peak history, capacity violations,
   energy balances; contracted capacities and prices in force, so that they all do their
   work). Reported: readings/s of each, best of several rounds, and their ratio.
2. alert latency: the Faust worker with every computation, against the embedded broker;
   samples produced at a steady 10,000 readings/s over 1,000 sites (a sample a minute of
   event time each, at 10.8 kW), the alert threshold at 1 W, so that the first reading of
   each site's quarter-hour raises one alert. Latency is from the
   sample's ``received_at`` (set when it is produced) to the alert read back from
   ``alerts.peaks``; p50 and p99, beside the same samples' own produce-to-consume time on
   meter.samples read by a plain aiokafka consumer (the yardstick).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import MutableMapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiokafka import AIOKafkaConsumer

from bench.site_load import READINGS_PER_SAMPLE, _sample, samples
from bench.workers import quarter_hour_worker
from gridstream import topics
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.producer import RecordProducer
from gridstream.records import GridSignal, MeterSample, Record, SiteAssignment
from gridstream.settings import Settings
from streams.compute.analytics import analytics
from streams.compute.computation import BatchContext, Computation, SiteLoad
from streams.compute.processor import SiteConfig
from streams.compute.signal_book import SignalBook

START = datetime(2026, 1, 15, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Brussels")


def _context(sites: int) -> tuple[dict[str, SiteAssignment], SignalBook]:
    info = {
        f"SITE{s}": SiteAssignment(
            station_id=f"CS{s}", site_id=f"SITE{s}", contracted_capacity_w=8_000,
            brp="10X-BRP", congestion_area=f"AREA{s % 10}",
        )
        for s in range(sites)
    }  # fmt: skip
    book = SignalBook()
    book.add_all(
        GridSignal(
            kind="day_ahead_price", scope_type="bidding_zone", scope_id="10YBE----------2",
            interval_start=START + timedelta(hours=h), interval_end=START + timedelta(hours=h + 1),
            resolution="PT60M", value=80.0 + h, unit="EUR/MWh", source="bench",
            document_id="bench", revision=1, received_at=START,
        )
        for h in range(48)
    )  # fmt: skip
    return info, book


def _rate(
    batch: Sequence[MeterSample],
    computations: Sequence[Computation[MeterSample]],
    info: dict[str, SiteAssignment],
    book: SignalBook,
    batch_size: int,
) -> tuple[float, int]:
    """Readings/s through ``computations`` in one pass per batch, as the worker runs them."""
    states: dict[str, MutableMapping[str, Any]] = {c.name: {} for c in computations}
    context = BatchContext(START, lambda _: ZONE, site_info=info.get, signals=book)
    outputs = 0
    began = time.perf_counter()
    for i in range(0, len(batch), batch_size):
        chunk = batch[i : i + batch_size]
        made: list[Record] = []
        for c in computations:
            step = c.process(
                states[c.name],
                chunk,
                replace(context, upstream=made),
            )
            made = [*made, *step.records]
        outputs += len(made)
    return len(batch) * READINGS_PER_SAMPLE / (time.perf_counter() - began), outputs


def compute(sites: int = 1_000, hours: int = 2, rounds: int = 3) -> dict[str, float]:
    """The site load alone and with every analytic: readings/s, best of ``rounds``."""
    settings = Settings()
    batch = samples(sites, hours)
    info, book = _context(sites)
    best = {"alone": 0.0, "all": 0.0}
    outputs = {"alone": 0, "all": 0}
    for _ in range(rounds):
        for name, extra in (("alone", []), ("all", analytics(settings))):
            chain = [SiteLoad(SiteConfig.from_settings(settings)), *extra]
            rate, made = _rate(batch, chain, info, book, settings.worker_batch_size)
            best[name] = max(best[name], rate)
            outputs[name] = made
    return {
        "sites": float(sites),
        "readings": float(len(batch) * READINGS_PER_SAMPLE),
        "site_load_readings_per_s": best["alone"],
        "all_computations_readings_per_s": best["all"],
        "ratio": best["all"] / best["alone"],
        "outputs_site_load": float(outputs["alone"]),
        "outputs_all": float(outputs["all"]),
    }


async def _consume_latencies(bootstrap: str, topic: str, expected: int, stamp: str) -> list[float]:
    """Seconds from each record's ``stamp`` field (ISO time) to when it was read."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[float] = []
    try:
        while len(out) < expected:
            batches = await consumer.getmany(timeout_ms=1000)
            now = time.time()
            for messages in batches.values():
                for m in messages:
                    sent = datetime.fromisoformat(orjson.loads(m.value)[stamp]).timestamp()
                    out.append(now - sent)
    finally:
        await consumer.stop()
    return out


async def alert_latency(
    bootstrap: str, data_dir: Path, readings_per_s: int = 10_000, seconds: float = 10.0
) -> dict[str, float]:
    """Alert p50/p99 from reading in to alert out, at ``readings_per_s``."""
    from streams.agents import batch_consumer, quarter_hour

    settings = Settings(data_dir=data_dir, peak_alert_threshold_w=1.0)
    producer = RecordProducer(bootstrap, client_id="bench-alerts")
    await producer.start()
    running = batch_consumer.worker_loop(
        bootstrap,
        f"bench-alerts-{uuid.uuid4().hex[:8]}",
        partial(quarter_hour_worker, settings, producer.publish, data_dir / "alerts.sqlite3"),
        quarter_hour.STATE_NAME,
        client_id="bench-alerts",
        batch_size=settings.worker_batch_size,
        poll_s=settings.worker_batch_within_s,
    )
    worker = running.worker
    await running.start()
    per_tick = max(1, readings_per_s // READINGS_PER_SAMPLE // 20)  # 20 ticks a second
    ticks = int(seconds * 20)
    sites = 1_000  # a sample a minute of event time per site: one alert a quarter-hour
    total = per_tick * ticks
    per_site = [total // sites + (1 if s < total % sites else 0) for s in range(sites)]
    expected_alerts = sum(-(-n // 15) for n in per_site)
    try:
        while not running.consumer.assignment():  # joined the group: the clock starts now
            await asyncio.sleep(0.05)
        alerts = asyncio.create_task(
            _consume_latencies(
                bootstrap, topics.ALERTS_PEAKS.name, expected_alerts, "reading_received_at"
            )
        )
        raw = asyncio.create_task(
            _consume_latencies(
                bootstrap, topics.METER_SAMPLES.name, per_tick * ticks, "received_at"
            )
        )
        loop = asyncio.get_running_loop()
        began = loop.time()
        n = 0
        for tick in range(ticks):
            batch = []
            for _ in range(per_tick):
                sample = _sample(n % sites, 1, n // sites)
                batch.append(sample.model_copy(update={"received_at": datetime.now(UTC)}))
                n += 1
            await producer.publish(batch)
            await asyncio.sleep(max(0.0, began + (tick + 1) / 20 - loop.time()))
        try:
            alert_latencies = await asyncio.wait_for(alerts, 120)
        except TimeoutError:
            raise RuntimeError(
                f"{total} samples produced, {worker.samples_in} processed, "
                f"{worker.counts['peak_alerts']} alerts made"
            ) from None
        raw_latencies = await asyncio.wait_for(raw, 120)
    finally:
        await running.stop()
        await producer.stop()
    return _percentiles(alert_latencies, "alert") | _percentiles(raw_latencies, "raw")


def _percentiles(values: list[float], name: str) -> dict[str, float]:
    values = sorted(values)
    return {
        f"{name}_count": float(len(values)),
        f"{name}_p50_ms": values[len(values) // 2] * 1000,
        f"{name}_p99_ms": values[int(len(values) * 0.99)] * 1000,
    }


def measure_latency() -> dict[str, float]:
    """``alert_latency`` against a fresh embedded broker."""
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        ensure_topics(broker.bootstrap)
        return asyncio.run(alert_latency(broker.bootstrap, Path(tmp)))


def report(result: dict[str, float]) -> str:
    """The compute figures and, when measured, the alert latency."""
    lines = [
        f"analytics, {result['sites']:.0f} sites: site load alone "
        f"{result['site_load_readings_per_s']:10.0f} readings/s; with every analytic "
        f"{result['all_computations_readings_per_s']:10.0f} readings/s  ratio "
        f"{result['ratio']:.3f}"
    ]
    if "alert_p50_ms" in result:
        lines.append(
            f"peak alert latency at 10,000 readings/s: p50 {result['alert_p50_ms']:.0f} ms, "
            f"p99 {result['alert_p99_ms']:.0f} ms ({result['alert_count']:.0f} alerts); the "
            f"samples' own produce-to-read p50 {result['raw_p50_ms']:.0f} ms, "
            f"p99 {result['raw_p99_ms']:.0f} ms"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__)
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--hours", type=int, default=2)
    args = parser.parse_args()
    figures = compute(args.sites, args.hours) | measure_latency()
    print(report(figures))
