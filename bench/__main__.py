"""``python -m bench``: connector ingest rate and worker processing rate vs plain aiokafka.

Everything runs against one embedded broker in one run, because these machines are
noisy: each figure is reported beside a plain aiokafka consume-and-decode loop (getmany +
orjson) over the same topic, and as a ratio to it.

1. ingest: S stations (raw websocket clients speaking ocpp2.0.1, one call in flight each,
   as a real station does, in a separate process) send MeterValues frames of 10 readings
   to the real connector, which validates, normalises and produces with acks=all before
   answering.
2. baseline: a plain aiokafka consumer reads and decodes the same meter.samples records.
3. worker: the Faust app with the quarter-hour agent and every analytic processes the
   same records from the start of the topic (group join excluded from the timing).
4. site load: the site chain alone, netted per minute and per quarter-hour
   (``bench.site_load``).
5. analytics: the site load alone and with every analytic at 1,000 sites, and the peak
   alert latency at 10,000 readings/s (``bench.analytics``).
6. signals: the ENTSO-E import of a year of PT15M day-ahead prices, beside a plain
   aiokafka producer sending the same signals (``bench.signals``).
7. worker scale: the worker with every computation at 100, 1,000 and 10,000 sites, in one
   and in two processes of one group, each beside the plain loop (``bench.worker_scale``).
8. OCPI: session PATCHes per second through the real OCPI receiver over HTTP, acks=all
   before each answer, beside a raw aiokafka produce loop of the same records
   (``bench.ocpi``).
9. sink: the warehouse sink's rows/s beside decoding and writing the same rows with plain
   pyarrow (``bench.sink``).
10. reports: on a generated history of ``--report-readings`` readings (100 million by
    default), the monthly peak per site and a V2X balance per BRP through the warehouse's
    views, beside the same SQL run by DuckDB on one Parquet file of the same readings
    (``bench.reports``); and a month of one site against the whole history's scan: files,
    bytes and seconds (``bench.pruning``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench import analytics as analytics_bench
from bench import ocpi, pruning, signals, site_load, worker_scale
from bench import reports as reports_bench
from bench import sink as sink_bench
from bench.baseline import bench_baseline
from bench.load import READINGS_PER_FRAME, run_stations
from bench.workers import quarter_hour_worker
from connectors.ocpp.server import serve_ocpp
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.producer import RecordProducer
from gridstream.records import DeadLetter
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.agents import batch_consumer, quarter_hour


async def bench_ingest(bootstrap: str, stations: int, per_station: int) -> dict[str, float]:
    """Frames/s and readings/s through the connector, acks=all before each answer."""
    producer = RecordProducer(bootstrap, client_id="bench-ingest")
    await producer.start()

    async def dead_letter(letter: DeadLetter) -> None:
        await producer.publish([letter])

    server = await serve_ocpp(
        "127.0.0.1",
        0,
        publish=producer.publish,
        dead_letter=dead_letter,
        registry=SiteRegistry(),
        now=lambda: datetime.now(UTC),
        id_token_key=b"bench",
    )
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    # The stations run in a process of their own, as real stations are elsewhere: the
    # connector's figure is then not shared with the load generator's own CPU.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        elapsed, latencies = await asyncio.get_running_loop().run_in_executor(
            pool, run_stations, url, stations, per_station
        )
    server.close()
    await server.wait_closed()
    await producer.stop()
    frames = stations * per_station
    latencies.sort()
    return {
        "frames": frames,
        "seconds": elapsed,
        "frames_per_s": frames / elapsed,
        "readings_per_s": frames * READINGS_PER_FRAME / elapsed,
        "answer_p50_ms": latencies[len(latencies) // 2] * 1000,
        "answer_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


async def bench_worker(bootstrap: str, expected: int, state_dir: Path) -> dict[str, float]:
    """The quarter-hour worker, as ``gridstream run`` has it, over the same records.

    Its group join is excluded (``first_records_s`` reports it).
    """
    settings = Settings(data_dir=state_dir)
    producer = RecordProducer(bootstrap, client_id="bench-worker")
    await producer.start()
    loop = batch_consumer.worker_loop(
        bootstrap,
        f"bench-{uuid.uuid4().hex[:8]}",
        partial(quarter_hour_worker, settings, producer.publish, state_dir / "bench.sqlite3"),
        quarter_hour.STATE_NAME,
        client_id="bench-worker",
        batch_size=settings.worker_batch_size,
    )
    worker = loop.worker
    starting = time.perf_counter()
    await loop.start()
    try:
        while worker.samples_in == 0:
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        # Group join and first fetch: seconds with the group settings of gridstream.broker.
        first_records_s = started - starting
        while worker.samples_in < expected:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        await loop.stop()
        await producer.stop()
    return {
        "records": worker.samples_in,
        "seconds": elapsed,
        "records_per_s": worker.samples_in / elapsed,
        "readings_per_s": worker.samples_in * READINGS_PER_FRAME / elapsed,
        "outputs": worker.loads_out + worker.peaks_out,
        "first_records_s": first_records_s,
    }


async def main(
    stations: int, per_station: int, ocpi_sessions: int = 50, ocpi_patches: int = 40
) -> dict[str, dict[str, float]]:
    """Run the four measurements against one embedded broker."""
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        ensure_topics(broker.bootstrap)
        ingest = await bench_ingest(broker.bootstrap, stations, per_station)
        baseline = await bench_baseline(broker.bootstrap, int(ingest["frames"]))
        worker = await bench_worker(broker.bootstrap, int(ingest["frames"]), Path(tmp))
        ocpi_result = await ocpi.bench_ocpi(broker.bootstrap, ocpi_sessions, ocpi_patches, 20)
    return {"ingest": ingest, "baseline": baseline, "worker": worker, "ocpi": ocpi_result}


def report(results: dict[str, dict[str, float]]) -> str:
    """The figures, each beside the baseline and as a ratio to it."""
    base = results["baseline"]["records_per_s"]
    ingest, worker = results["ingest"], results["worker"]
    ingest_ratio = ingest["frames_per_s"] / base
    worker_ratio = worker["records_per_s"] / base
    return "\n".join(
        [
            f"baseline aiokafka getmany+orjson : {base:10.0f} records/s "
            f"({results['baseline']['readings_per_s']:.0f} readings/s)",
            f"connector ingest (acks=all)      : {ingest['frames_per_s']:10.0f} frames/s "
            f"({ingest['readings_per_s']:.0f} readings/s)  ratio {ingest_ratio:.3f}  "
            f"answer p50 {ingest['answer_p50_ms']:.1f} ms p99 {ingest['answer_p99_ms']:.1f} ms",
            f"quarter-hour worker (all analytics): {worker['records_per_s']:10.0f} records/s "
            f"({worker['readings_per_s']:.0f} readings/s)  ratio {worker_ratio:.3f}  "
            f"first records {worker['first_records_s']:.1f} s after start",
            *([ocpi.report(results["ocpi"])] if "ocpi" in results else []),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--messages", type=int, default=400, help="frames per station")
    parser.add_argument("--ocpi-sessions", type=int, default=50, help="OCPI sessions")
    parser.add_argument("--ocpi-patches", type=int, default=40, help="PATCHes per session")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--only-signals", action="store_true", help="only the ENTSO-E signals import (5.)"
    )
    parser.add_argument(
        "--report-readings",
        type=int,
        default=100_000_000,
        help="readings of the reports' generated history (10.); 0 leaves the reports out",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = (
        {}
        if args.only_signals
        else asyncio.run(main(args.stations, args.messages, args.ocpi_sessions, args.ocpi_patches))
    )
    if results:
        print(report(results))
        results["site_load"] = site_load.run()  # the computation alone, netting on and off
        print(site_load.report(results["site_load"]))
        results["analytics"] = analytics_bench.compute() | analytics_bench.measure_latency()
        print(analytics_bench.report(results["analytics"]))
    results["signals"] = asyncio.run(signals.measure(signals.year_of_prices()))
    print(signals.report(results["signals"]))
    results["sink"] = sink_bench.measure()
    print(sink_bench.report(results["sink"]))
    if not args.only_signals:  # 7. the worker at 100, 1,000 and 10,000 sites, one and two
        scale = [worker_scale.measure(sites, 20_000) for sites in (100, 1_000, 10_000)]
        for r in scale:
            results[f"worker_scale_{int(r['sites'])}_sites"] = r
        print(worker_scale.report(scale))
    if not args.only_signals and args.report_readings:  # 10. reports and pruning
        results["pruning"] = pruning.measure()
        print(pruning.report(results["pruning"]))
        results["reports"] = reports_bench.measure(args.report_readings)
        print(reports_bench.report(results["reports"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
