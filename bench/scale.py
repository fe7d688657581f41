"""``python -m bench.scale``: how many stations one connector process holds, and how fast.

One connector (this process: the real ``serve_ocpp`` publishing through a real
``RecordProducer``, acks=all, to the embedded broker; with ``--spool`` through the durable
spool and its forwarder, as ``gridstream run`` does) and ``--load-procs`` load processes of
raw-websocket stations speaking OCPP 1.6 and 2.0.1 (``bench.scale_load``). In order:

1. ramp: open ``--stations`` connections in steps of ``--step`` (each sends
   BootNotification); count the successes, time each step, read this process's RSS;
2. idle: the connections held, nothing sent but the server's websocket pings: CPU and RSS;
3. heartbeat: every station sends Heartbeat every ``--heartbeat-interval-s``;
4. saturated: every station sends MeterValues (10 readings) as soon as its previous answer
   came; CALLRESULTs per second over a ``--window-s`` window after ``--warmup-s``, answer
   latency p50/p99 measured in the load processes, RSS under load;
5. paced: every station sends MeterValues every ``--paced-interval-s`` (a real fleet's
   pace), for the latency at a rate the connector keeps up with;
6. raw: after the stations closed, a plain aiokafka producer sends the records the
   connector produced, acks=all, many in flight, to the same broker: the yardstick.

Memory per connection is (RSS - RSS before the first connection) / connections held:
after the ramp (idle), the highest under load, and after the traffic (what the connector
keeps per station once it has talked). ``--ws KEY=VALUE`` tries websockets server options
and ``--producer KEY=VALUE`` aiokafka producer options without changing the connector.
The machine's noise moves every figure (the load average is reported); compare the ratio
ingest / raw, not absolute rates. No figure is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final

from bench.scale_connector import (
    PUBLISH_PATHS,
    CapturingPublish,
    make_producer,
    parse_producer_option,
    parse_ws_option,
    raw_produce,
    start_connector,
)
from bench.scale_frames import READINGS_PER_FRAME, VERSIONS
from bench.scale_load import (
    Action,
    Close,
    Command,
    Connect,
    LoadConfig,
    StepResult,
    Traffic,
    TrafficResult,
    run_load,
)
from bench.scale_report import FirstFew, memory_figures, report, short
from bench.scale_stats import cpu_s, latency_summary_ms, rss_kib
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.pipeline import tune_gc

RESULTS_DIR: Final = Path(__file__).parent / "results"
#: Seconds between sending a Traffic command and its start, for the pipes to deliver it.
_LEAD_S: Final = 1.0


class LoadProcesses:
    """The load processes and the pipes to them; ``ask`` sends one command to each."""

    def __init__(self, configs: Sequence[LoadConfig]) -> None:
        """Start one process per config (spawned: nothing of this process is inherited)."""
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for config in configs:
            ours, theirs = ctx.Pipe()
            process = ctx.Process(target=run_load, args=(theirs, config), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)

    async def ask(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands[i]`` to process i; their answers, once all have answered."""
        loop = asyncio.get_running_loop()
        for pipe, command in zip(self.pipes, commands, strict=True):
            pipe.send(command)
        # Read in threads: this process's event loop is the connector's, and must run on.
        return list(await asyncio.gather(*(loop.run_in_executor(None, p.recv) for p in self.pipes)))

    async def close(self) -> None:
        """Close every station and wait for the processes to end."""
        try:
            await self.ask([Close() for _ in self.pipes])
        finally:
            for process in self.processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()


def split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal shares, the larger first.

    >>> split(10, 3)
    [4, 3, 3]
    """
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _rss_now() -> int:
    gc.collect()
    return rss_kib(os.getpid())


async def ramp(load: LoadProcesses, stations: int, step: int) -> dict[str, Any]:
    """Open ``stations`` connections in steps of ``step``: successes, seconds, RSS per step."""
    steps: list[dict[str, Any]] = []
    failures: Counter[str] = Counter()
    connected = 0
    started = time.monotonic()
    for first in range(0, stations, step):
        count = min(step, stations - first)
        step_started = time.monotonic()
        results: list[StepResult] = await load.ask(
            [Connect(n) for n in split(count, len(load.pipes))]
        )
        connected += sum(r.connected for r in results)
        for r in results:
            failures.update(r.failures)
        steps.append(
            {
                "asked": count,
                "connected": sum(r.connected for r in results),
                "seconds": time.monotonic() - step_started,
                "connections_total": connected,
                "connector_rss_kib": _rss_now(),
            }
        )
        print(
            f"  ramp: {connected:6d}/{first + count} connected "
            f"({steps[-1]['seconds']:.1f} s this step, RSS {steps[-1]['connector_rss_kib']} KiB)",
            flush=True,
        )
    return {
        "asked": stations,
        "connected": connected,
        "failed": stations - connected,
        "failures": dict(failures),
        "seconds": time.monotonic() - started,
        "steps": steps,
    }


async def idle(seconds: float, broker_pid: int | None) -> dict[str, Any]:
    """Hold the connections for ``seconds``: CPU of connector and broker, connector RSS."""
    me = os.getpid()
    cpu0, broker0, t0 = cpu_s(me), _broker_cpu(broker_pid), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    return {
        "seconds": elapsed,
        "connector_cpu_pct": (cpu_s(me) - cpu0) / elapsed * 100,
        "broker_cpu_pct": (_broker_cpu(broker_pid) - broker0) / elapsed * 100,
        "connector_rss_kib": _rss_now(),
        "full_gc_ms": _full_gc_ms(),
        "gc_objects": len(gc.get_objects()),
    }


def _full_gc_ms() -> float:
    """How long a full garbage collection stops this process: the loop waits that long."""
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000


def _gen2_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def _broker_cpu(pid: int | None) -> float:
    return cpu_s(pid) if pid is not None else 0.0


@dataclass(frozen=True)
class _Mark:
    """Counters read at the start or the end of a measured window."""

    at: float
    cpu_s: float
    broker_cpu_s: float
    records: int  # accepted by the publish path (answered)
    broker_acked: int  # acknowledged by the broker
    full_gcs: int


async def traffic(
    load: LoadProcesses,
    capture: CapturingPublish,
    broker_pid: int | None,
    *,
    action: Action,
    interval_s: float,
    warmup_s: float,
    window_s: float,
) -> dict[str, Any]:
    """One traffic phase on all connections; figures over its measured window."""
    start_at = time.monotonic() + _LEAD_S
    window_start = start_at + warmup_s
    window_end = window_start + window_s
    command = Traffic(action, start_at, window_start, window_end, interval_s)
    me = os.getpid()
    marks: dict[str, _Mark] = {}
    rss_samples: list[int] = []

    async def mark(name: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        marks[name] = _Mark(
            time.monotonic(),
            cpu_s(me),
            _broker_cpu(broker_pid),
            capture.records,
            capture.path.broker_acked(),
            _gen2_collections(),
        )

    async def sample_rss() -> None:
        await asyncio.sleep(max(0.0, window_start - time.monotonic()))
        while time.monotonic() < window_end:
            rss_samples.append(rss_kib(me))  # no gc.collect(): that would disturb the load
            await asyncio.sleep(1.0)

    results: list[TrafficResult]
    results, *_ = await asyncio.gather(
        load.ask([command] * len(load.pipes)),
        mark("start", window_start),
        mark("end", window_end),
        sample_rss(),
    )
    start, end = marks["start"], marks["end"]
    elapsed = end.at - start.at
    answered = sum(r.answered for r in results)
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    for r in results:
        errors.update(r.errors)
        latencies.extend(r.latencies_s)
    return {
        "action": action,
        "interval_s": interval_s,
        "window_s": window_s,
        "stations": sum(r.stations for r in results),
        "sent": sum(r.sent for r in results),
        "answered_in_window": answered,
        "answers_per_s": answered / window_s,
        "readings_per_s": answered * READINGS_PER_FRAME / window_s
        if action == "MeterValues"
        else 0.0,
        "records_per_s": (end.records - start.records) / elapsed,
        "broker_acked_per_s": (end.broker_acked - start.broker_acked) / elapsed,
        "errors": dict(errors),
        "latency": latency_summary_ms(latencies),
        "connector_cpu_pct": (end.cpu_s - start.cpu_s) / elapsed * 100,
        "broker_cpu_pct": (end.broker_cpu_s - start.broker_cpu_s) / elapsed * 100,
        "load_cpu_pct": [r.cpu_s / window_s * 100 for r in results],
        "connector_rss_max_kib": max(rss_samples, default=0),
        "connector_rss_samples_kib": rss_samples,  # one a second through the window
        "connector_rss_after_kib": _rss_now(),  # the traffic done, garbage collected
        "connector_full_gcs": end.full_gcs
        - start.full_gcs,  # automatic ones, each a pause (see idle full_gc_ms)
        "load_rss_kib": [r.rss_kib for r in results],
    }


async def main(opts: argparse.Namespace) -> dict[str, Any]:
    """Run every phase against one embedded broker; the figures as a JSON-ready dict."""
    results: dict[str, Any] = {"options": {k: v for k, v in vars(opts).items() if k != "json"}}
    # The figures are only as quiet as the machine: say how busy it was.
    results["machine"] = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        producer = make_producer(broker.bootstrap, dict(opts.producer))
        await producer.start()
        path = await PUBLISH_PATHS["spool" if opts.spool else "direct"](
            producer, broker.bootstrap, opts
        )
        capture = CapturingPublish(path)
        server = await start_connector(capture, producer, dict(opts.ws))
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        rss_before = _rss_now()
        configs = [
            LoadConfig(
                url=url,
                process_index=i,
                versions=tuple(opts.versions),
                compression=opts.compression,
                connect_concurrency=opts.connect_concurrency,
                open_timeout_s=opts.open_timeout_s,
                answer_timeout_s=opts.answer_timeout_s,
            )
            for i in range(opts.load_procs)
        ]
        load = LoadProcesses(configs)
        try:
            print(f"connector RSS before connections: {rss_before} KiB", flush=True)
            results["ramp"] = await ramp(load, opts.stations, opts.step)
            results["idle"] = await idle(opts.idle_s, broker.pid)
            held = results["ramp"]["connected"]
            print(f"  idle: {results['idle']}", flush=True)
            # (phase, action, seconds between a station's messages, warm-up, window)
            phases: tuple[tuple[str, Action, float, float, float], ...] = (
                ("heartbeat", "Heartbeat", opts.heartbeat_interval_s, 0.0, opts.heartbeat_s),
                ("saturated", "MeterValues", 0.0, opts.warmup_s, opts.window_s),
                ("paced", "MeterValues", opts.paced_interval_s, 0.0, opts.paced_s),
            )
            for phase, action, interval_s, warmup_s, window_s in phases:
                if window_s <= 0:
                    continue
                results[phase] = await traffic(
                    load,
                    capture,
                    broker.pid,
                    action=action,
                    interval_s=interval_s,
                    warmup_s=warmup_s,
                    window_s=window_s,
                )
                print(f"  {phase}: {short(results[phase])}", flush=True)
        finally:
            await load.close()
            server.close()
            await server.wait_closed()
        results["memory"] = memory_figures(rss_before, held, results)
        results["counters"] = vars(server.counters)
        results["machine"]["loadavg_end"] = os.getloadavg()
        # Before the raw run: a spool's forwarder must not compete with it.
        results["publish_path"] = await capture.close()
        if opts.raw_s > 0 and capture.sample:
            results["raw"] = await raw_produce(
                broker.bootstrap,
                capture.sample,
                opts.raw_s,
                opts.raw_in_flight,
                dict(opts.producer),
            )
        await producer.stop()
    return results


def _parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=doc.split("\n")[0])
    add = parser.add_argument
    add("--stations", type=int, default=10_000, help="connections to open")
    add("--step", type=int, default=1000, help="connections opened per ramp step")
    add("--load-procs", type=int, default=2, help="load processes (fd limit per process)")
    add(
        "--versions",
        type=lambda s: [v if v.startswith("ocpp") else f"ocpp{v}" for v in s.split(",")],
        default=list(VERSIONS),
        help="OCPP versions, taken in turn per station (default: ocpp1.6,ocpp2.0.1)",
    )
    add("--compression", action="store_true", help="stations offer permessage-deflate")
    add("--connect-concurrency", type=int, default=100, help="handshakes at once per process")
    add("--open-timeout-s", type=float, default=60.0)
    add("--answer-timeout-s", type=float, default=120.0)
    add("--idle-s", type=float, default=25.0, help="idle phase (pings every 20 s by default)")
    add("--heartbeat-interval-s", type=float, default=30.0)
    add("--heartbeat-s", type=float, default=30.0, help="heartbeat phase length (0: skip)")
    add("--warmup-s", type=float, default=5.0, help="saturated phase warm-up")
    add("--window-s", type=float, default=20.0, help="saturated phase window (0: skip)")
    add("--paced-interval-s", type=float, default=60.0, help="paced MeterValues interval")
    add("--paced-s", type=float, default=30.0, help="paced phase window (0: skip)")
    add("--raw-s", type=float, default=10.0, help="raw produce run length (0: skip)")
    add("--raw-in-flight", type=int, default=1000, help="raw sends awaited together")
    add(
        "--spool",
        action="store_true",
        help="publish through the durable spool (connectors.spool) and its forwarder, as "
        "`gridstream run` does, instead of straight to the RecordProducer",
    )
    add("--spool-dir", type=Path, help="where the spool's directory goes (default: temp)")
    add("--spool-max-bytes", type=int, default=4 << 30)
    add(
        "--ws",
        type=parse_ws_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="websockets server option for serve() (ping_interval, max_queue, write_limit, "
        "max_size, compression; 'none' for None), repeatable",
    )
    add(
        "--producer",
        type=parse_producer_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="aiokafka option overriding RecordProducer's (max_batch_size, linger_ms, "
        "max_request_size), repeatable; also used by the raw run",
    )
    add(
        "--gc-default",
        action="store_true",
        help="keep Python's collector thresholds instead of gridstream run's GC_THRESHOLDS",
    )
    add("--json", type=Path, help="where to write the figures (default: bench/results/)")
    return parser


if __name__ == "__main__":
    args = _parser().parse_args()
    for version in args.versions:
        if version not in VERSIONS:
            raise SystemExit(f"unsupported version {version}; choose from {VERSIONS}")
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(FirstFew(10))
    if not args.gc_default:
        tune_gc()  # the connector process as gridstream run configures it
    figures = asyncio.run(main(args))
    print(report(figures))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.json or RESULTS_DIR / f"scale-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str))
    print(f"figures written to {out}")
