"""``python -m bench.spool``: what the connector's spool costs and what it carries.

Against one embedded broker, in one run:

1. latency: the time one ``publish`` of one meter sample (10 readings) takes, p50 and
   p99, with 1 and with 100 callers publishing at once: through the spool (returns after
   the append is synced; a forwarder sends on to the broker meanwhile) and directly with
   ``RecordProducer.publish`` (returns after the broker's acks=all). That time is what a
   station waits for its answer, beyond the connector's own work.
2. throughput: records appended per second with 1, 100 and 1000 callers publishing at
   once (group commit shares one write and sync among the callers waiting), the syncs
   that took, and how long the forwarder (ack mode, acks=all) then needed to have every
   record acknowledged by the broker, as records per second from the first append.

The spool lives in a temporary directory on the default temp file system; its sync cost
is that disk's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.spool import Forwarder, KafkaTarget, Spool
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.producer import RecordProducer
from gridstream.records import MeterSample, Reading, Record

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
Publish = Callable[[Sequence[Record]], Awaitable[None]]


def sample(caller: int, n: int) -> MeterSample:
    """One meter sample of 10 readings, as the connector makes of a MeterValues frame."""
    phases = ("L1", "L2", "L3")
    readings = (
        Reading(measurand="Energy.Active.Import.Register", value=1000.0 + n, unit="Wh"),
        Reading(measurand="Power.Active.Import", value=11040.0, unit="W"),
        *(Reading(measurand="Current.Import", value=16.0, unit="A", phase=p) for p in phases),
        *(Reading(measurand="Voltage", value=230.0, unit="V", phase=f"{p}-N") for p in phases),
        Reading(measurand="SoC", value=55.0, unit="%"),
        Reading(measurand="Frequency", value=50.0, unit="Hz"),
    )
    return MeterSample(
        ts=T0 + timedelta(minutes=n), station_id=f"BENCH-{caller:04d}",
        site_id=f"SITE-{caller % 50:02d}", evse_id=1, source="ocpp2.0.1",
        message_id=f"{caller}-{n}", received_at=T0, readings=readings,
    )  # fmt: skip


async def timed_publishes(
    publish: Publish, callers: int, per_caller: int
) -> tuple[list[float], float]:
    """Per-call and total seconds of ``callers`` tasks each publishing ``per_caller`` samples.

    Each task publishes one sample at a time, in turn. The samples are built beforehand:
    building them is the connector's work, not the publishing's.
    """
    latencies: list[float] = []
    prepared = [[sample(c, n) for n in range(per_caller)] for c in range(callers)]

    async def caller(c: int) -> None:
        for record in prepared[c]:
            started = time.perf_counter()
            await publish([record])
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    return latencies, time.perf_counter() - started


def percentiles_ms(latencies: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 3), "p99_ms": round(cuts[98] * 1000, 3)}


async def with_spool(
    bootstrap: str, work: Callable[[Spool, Forwarder], Awaitable[dict[str, float]]]
) -> dict[str, float]:
    """Run ``work`` on a fresh spool (ack mode) with its forwarder to ``bootstrap``."""
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as directory:
        async with Spool(Path(directory), max_bytes=4 << 30, mode="ack") as spool:
            forwarder = Forwarder(spool, KafkaTarget(bootstrap, client_id="bench-spool"))
            await forwarder.start()
            try:
                return await work(spool, forwarder)
            finally:
                await forwarder.stop()


async def bench_latency(bootstrap: str, callers: int, per_caller: int) -> dict[str, object]:
    """Publish latency through the spool and directly to the broker, same load."""

    async def through_spool(spool: Spool, forwarder: Forwarder) -> dict[str, float]:
        latencies, _ = await timed_publishes(spool.publish, callers, per_caller)
        return percentiles_ms(latencies)

    spooled = await with_spool(bootstrap, through_spool)
    async with RecordProducer(bootstrap, client_id="bench-direct") as producer:
        latencies, _ = await timed_publishes(producer.publish, callers, per_caller)
        direct = percentiles_ms(latencies)
    return {"callers": callers, "calls": callers * per_caller, "spool": spooled, "direct": direct}


async def bench_throughput(bootstrap: str, callers: int, records: int) -> dict[str, float]:
    """Records/s appended by ``callers`` at once, syncs used, and the forwarder's rate."""
    per_caller = max(1, records // callers)

    async def run(spool: Spool, forwarder: Forwarder) -> dict[str, float]:
        _, appended_s = await timed_publishes(spool.publish, callers, per_caller)
        started = time.perf_counter()
        while spool.held:
            await asyncio.sleep(0.005)
        forwarded_s = appended_s + time.perf_counter() - started
        stats = spool.stats()
        return {
            "callers": callers,
            "records": stats.appended,
            "append_records_per_s": round(stats.appended / appended_s),
            "records_per_sync": round(stats.appended / stats.flushes, 1),
            "forwarded_records_per_s": round(stats.appended / forwarded_s),
        }

    return await with_spool(bootstrap, run)


async def bench(records: int, latency_calls: int) -> dict[str, object]:
    """Every measurement against one embedded broker."""
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        latency = [
            await bench_latency(broker.bootstrap, 1, latency_calls),
            await bench_latency(broker.bootstrap, 100, max(1, latency_calls // 100) * 5),
        ]
        throughput = [
            await bench_throughput(broker.bootstrap, callers, records) for callers in (1, 100, 1000)
        ]
    return {"latency": latency, "throughput": throughput}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print (and optionally save) its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.spool", description=__doc__)
    parser.add_argument("--records", type=int, default=20_000, help="records per throughput run")
    parser.add_argument("--latency-calls", type=int, default=1000, help="calls, single caller")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    figures = asyncio.run(bench(args.records, args.latency_calls))
    for row in figures["latency"]:  # type: ignore[attr-defined]
        print(
            f"publish latency, {row['callers']:>4} callers: spool p50 {row['spool']['p50_ms']} ms "
            f"p99 {row['spool']['p99_ms']} ms; direct (acks=all) p50 {row['direct']['p50_ms']} ms "
            f"p99 {row['direct']['p99_ms']} ms"
        )
    for row in figures["throughput"]:  # type: ignore[attr-defined]
        print(
            f"spool append, {row['callers']:>4} callers: {row['append_records_per_s']} records/s, "
            f"{row['records_per_sync']} records per sync; forwarded (acks=all) "
            f"{row['forwarded_records_per_s']} records/s"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
