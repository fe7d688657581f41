"""Runs every part of gridstream in one process: ``gridstream run`` (the CLI calls it).

The parts are started by ``gridstream.parts`` (the same functions start them alone in
``gridstream connector|worker|sink``). Order of start: broker (embedded unless configured)
with every catalog topic, the connector (spool, forwarder, OCPP server: first of the
servers, so that a port in use fails before anything else runs, and the registry feed), the
warehouse sink, the Faust worker, then the fleet simulator. Order of stop is the reverse,
with a drain before it: once the stations are done, the forwarder sends what the spool
holds, the worker finishes what the connector produced, the sink writes everything that was
produced and (sink release mode) the spool lets go of it, so the summary read back from
DuckDB matches what the stations sent and the spool is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final

from connectors.ocpp.proxy import OcppProxy
from connectors.ocpp.server import OcppServer
from dashboard.board import Board
from dashboard.server import start_dashboard
from gridstream import topics
from gridstream.broker import BrokerInfo, broker_session
from gridstream.errors import ConfigError
from gridstream.grid_feeds import openadr_ven_config
from gridstream.parts import (
    load_sites,
    start_connector,
    start_metrics,
    start_sink,
    start_worker,
    stop_on_signals,
    utc_now,
    wait_for,
)
from gridstream.periods import quarter_hour_start
from gridstream.records import SiteAssignment
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from simulator.clock import SimClock
from simulator.fleet import Fleet, default_fleet
from simulator.ledger import Ledger
from simulator.stations import SimOptions, run_fleet
from warehouse.catalog import refresh_views
from warehouse.report import format_site_summary, site_summary

log = logging.getLogger(__name__)


#: Collector thresholds for a long-running connector (gen0, gen1, gen2); Python's default is
#: (700, 10, 10). At 10,000 stations a full collection walks ~1 M objects (~0.75-1.1 s);
#: with a younger generation collected less often, short-lived per-message objects die
#: before they reach the old one. bench.scale, same run arguments, default vs these:
#: 1,000 vs 1,500 answers/s saturated (4 vs 0 full collections), paced p99 766 vs 254 ms.
GC_THRESHOLDS: Final = (700, 100, 100)


def tune_gc() -> None:
    """Set ``GC_THRESHOLDS`` for this process (call once, before serving stations)."""
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(frozen=True)
class RunOptions:
    """What ``gridstream run`` was asked to do."""

    duration_s: float | None = None
    simulator: bool = True
    speed: float = 60.0
    seed: int = 1
    drain_timeout_s: float = 60.0


@dataclass
class RunResult:
    """What a run did, for the closing summary and for tests."""

    broker: BrokerInfo
    ocpp_port: int
    data_dir: Path
    messages_accepted: int = 0
    messages_rejected: int = 0
    #: Valid messages answered InternalError because the spool could not keep them (full:
    #: the broker or the sink is behind; or its disk failed; the station retries them),
    #: and bugs: both must be looked at.
    messages_not_stored: int = 0
    internal_errors: int = 0
    #: Retransmitted messages answered again without storing them twice, and the samples
    #: and transaction events a station re-sent that were left out (exactly once per reading).
    messages_duplicate: int = 0
    records_duplicate: int = 0
    #: Connector protection at work (CSMS mode): handshakes answered 401 or 503, frames
    #: delayed by the per-station rate limit, connections closed for an oversize frame.
    handshakes_refused: int = 0
    frames_throttled: int = 0
    oversize_closed: int = 0
    records_produced: int = 0
    samples_processed: int = 0
    #: Meter quirks (DOMAIN.md, Meter values): unreadable sampled values dropped alone,
    #: register misreads dropped, segment breaks (resets, new meters), estimated site
    #: quarter-hours emitted, and readings refused as too late. Each dropped reading is in
    #: the dead-letter topic with its reason.
    values_dropped: int = 0
    outliers: int = 0
    resets: int = 0
    estimated: int = 0
    too_late: int = 0
    #: Spool entries not yet durable at exit (0 after a clean drain): sent at the next start.
    spool_held: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    summary: str = ""
    #: The OCPI receiver's port, and its requests accepted and refused (auth included).
    ocpi_port: int = 0
    ocpi_accepted: int = 0
    ocpi_rejected: int = 0
    #: The dashboard's port; None when not served (GRIDSTREAM_DASHBOARD_PORT unset).
    dashboard_port: int | None = None

    def __str__(self) -> str:
        broker = "embedded Tansu" if self.broker.embedded else self.broker.bootstrap
        return (
            f"gridstream run finished (broker: {broker}, OCPP port {self.ocpp_port})\n"
            f"  OCPP messages accepted {self.messages_accepted}, rejected "
            f"{self.messages_rejected}; records produced {self.records_produced}; "
            f"samples processed by the worker {self.samples_processed}\n"
            + (
                f"  spool: {self.spool_held} entries held at exit, NOT YET DURABLE (kept on "
                "disk; sent again at the next start)\n"
                if self.spool_held
                else "  spool: 0 entries held at exit\n"
            )
            + (
                f"  NOT STORED (the spool refused them; stations were told to retry): "
                f"{self.messages_not_stored}; internal errors: {self.internal_errors}\n"
                if self.messages_not_stored or self.internal_errors
                else ""
            )
            + (
                f"  meter quirks: {self.values_dropped} unreadable values dropped, "
                f"{self.outliers} register misreads dropped, {self.resets} resets or new "
                f"meters, {self.too_late} readings too late (all in dead_letters); "
                f"{self.estimated} estimated quarter-hour figures\n"
            )
            + (
                f"  re-sent by stations and not stored twice: {self.messages_duplicate} messages, "
                f"{self.records_duplicate} records\n"
                if self.messages_duplicate or self.records_duplicate
                else ""
            )
            + (
                f"  connector limits: {self.handshakes_refused} handshakes refused (401/503), "
                f"{self.frames_throttled} frames delayed by the rate limit, "
                f"{self.oversize_closed} connections closed for an oversize frame\n"
                if self.handshakes_refused or self.frames_throttled or self.oversize_closed
                else ""
            )
            + (
                f"  OCPI requests accepted {self.ocpi_accepted}, refused {self.ocpi_rejected}\n"
                if self.ocpi_accepted or self.ocpi_rejected
                else ""
            )
            + f"  warehouse {self.data_dir}: "
            + (
                ", ".join(f"{t} {n}" for t, n in sorted(self.rows_written.items()) if n)
                or "nothing written"
            )
            + "\n\n"
            + self.summary
            + '\n\nMore with: gridstream query "SELECT * FROM quarter_hour_load" '
            "(views: meter_readings, quarter_hour_load, peaks, sessions, dead_letters, ...)"
        )


async def run(
    settings: Settings,
    options: RunOptions,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[RunResult], None] | None = None,
    fleet: Fleet | None = None,
    ledger: Ledger | None = None,
) -> RunResult:
    """Run the pipeline until the simulator is done, ``duration_s`` passes, or ``stop``.

    With ``options.simulator``, ``fleet`` (default: ``default_fleet``) runs against the
    connector and records what its meters counted in ``ledger``. ``on_ready`` is called
    once everything listens (tests use it to learn the ports).
    SIGINT and SIGTERM set ``stop``: the run then drains and ends with its summary; a
    second signal cancels the run (every part is still stopped).
    """
    if options.simulator and settings.ocpp_upstream_url is None:
        if settings.ocpp_credentials_file is not None or settings.ocpp_tls_cert_file is not None:
            raise ConfigError(
                "the simulated stations neither authenticate nor speak wss://: with "
                "GRIDSTREAM_OCPP_CREDENTIALS_FILE or GRIDSTREAM_OCPP_TLS_CERT_FILE set, "
                "run with --no-simulator"
            )
    stop = stop or asyncio.Event()
    # A bad sites file or VEN configuration is refused before anything starts.
    sites = load_sites(settings)
    openadr_ven_config(settings)
    with (
        stop_on_signals(stop),
        broker_session(
            settings.kafka_bootstrap,
            replication_factor=settings.topic_replication_factor,
            min_insync_replicas=settings.topic_min_insync_replicas,
        ) as broker,
    ):
        if options.simulator and fleet is None:
            fleet = default_fleet(random.Random(options.seed))
        return await _run_on(
            broker,
            settings,
            options,
            stop,
            on_ready,
            fleet if options.simulator else None,
            ledger,
            sites,
        )


async def _run_on(
    broker: BrokerInfo,
    settings: Settings,
    options: RunOptions,
    stop: asyncio.Event,
    on_ready: Callable[[RunResult], None] | None,
    fleet: Fleet | None,
    ledger: Ledger | None,
    sites: list[SiteAssignment],
) -> RunResult:
    data_dir = settings.data_dir
    registry = SiteRegistry(settings.site_timezone)
    assignments = list(fleet.site_assignments()) if fleet is not None else []
    assignments += sites
    for assignment in assignments:
        registry.assign(assignment)
    # With the simulator, the connector's clock is the simulated one: the fleet runs
    # `speed` times faster than real time, and read against the wall clock its readings
    # would soon look hours ahead and be re-timed as a skewed station clock.
    sim_clock = (
        SimClock(quarter_hour_start(utc_now()), options.speed, time.monotonic)
        if fleet is not None
        else None
    )
    connector_now = sim_clock.now if sim_clock is not None else utc_now

    # Every part that started is stopped, in reverse order, however the run ends: a part
    # left running (a Faust consumer thread, say) would keep the process alive. The
    # connector first: a port in use is reported before anything else starts.
    async with contextlib.AsyncExitStack() as parts:
        connector = await start_connector(
            parts, settings, broker, registry, assignments, connector_now
        )
        server, spool, forwarder = connector.server, connector.spool, connector.forwarder
        await start_metrics(parts, settings)
        sink_part = await start_sink(
            parts, settings, broker, connector.dead_letter, on_written=spool.release
        )
        sink = sink_part.sink
        # One registry for the connector and the worker: the connector's feed keeps it.
        worker_part = await start_worker(
            parts, settings, broker, registry, follow_registry=False, on_failure=stop.set
        )
        worker, worker_producer = worker_part.worker, worker_part.producer

        ocpi = connector.ocpi
        result = RunResult(
            broker=broker, ocpp_port=server.port, data_dir=data_dir, ocpi_port=ocpi.port
        )
        if settings.dashboard_port is not None:
            # The simulated clock when simulating: "today" and "online" as the fleet lives it.
            result.dashboard_port = await start_dashboard(
                settings.dashboard_host,
                settings.dashboard_port,
                broker.bootstrap,
                parts,
                connector_now,
                Board(online_within=timedelta(seconds=settings.dashboard_online_s)),
            )
        if on_ready is not None:
            on_ready(result)

        async def progress() -> None:
            while True:
                await asyncio.sleep(10)
                ocpi_counts = ocpi.receiver.counters
                log.info(
                    "OCPP messages accepted %d, rejected %d; OCPI requests accepted %d, "
                    "refused %d; samples processed %d; quarter-hours %d, peaks %d; "
                    "warehouse rows %d",
                    server.counters.accepted, server.counters.rejected, ocpi_counts.accepted,
                    ocpi_counts.rejected + ocpi_counts.unauthorized, worker.samples_in,
                    worker.loads_out, worker.peaks_out, sum(sink.stats().rows_written.values()),
                )  # fmt: skip

        progress_task = asyncio.create_task(progress(), name="progress")
        parts.callback(progress_task.cancel)

        await _run_load(options, server, fleet, sim_clock, ledger, stop)
        await connector.close_servers()  # no new data: let the worker and the sink catch up
        await wait_for(lambda: forwarder.caught_up, options.drain_timeout_s, "the spool forwarder")

        def worker_caught_up() -> bool:
            return all(
                worker.processed.get(p, -1) >= off
                for (t, p), off in spool.acked.items()
                if t == topics.METER_SAMPLES.name
            )

        await wait_for(worker_caught_up, options.drain_timeout_s, "the worker")
        acked = {**spool.acked, **worker_producer.acked}

        def sink_caught_up() -> bool:
            # flushed_offsets also moves past records that left no row (tombstones).
            written = sink.flushed_offsets()
            return all(written.get(tp, 0) > off for tp, off in acked.items())

        await wait_for(sink_caught_up, options.drain_timeout_s, "the warehouse sink")
        # Sink mode: the spool lets go once the sink's files are in place (its hook).
        await wait_for(lambda: spool.held == 0, options.drain_timeout_s, "the spool to be released")

    refresh_views(data_dir)
    result.messages_accepted = server.counters.accepted
    result.messages_rejected = server.counters.rejected
    result.messages_not_stored = server.counters.publish_failed
    result.internal_errors = server.counters.internal_errors
    result.messages_duplicate = server.counters.duplicates
    result.records_duplicate = server.counters.duplicate_records
    if isinstance(server, OcppServer):  # the proxy leaves limits and auth to the CSMS
        counters = server.counters
        result.handshakes_refused = counters.auth_refused + counters.connections_refused
        result.frames_throttled = counters.throttled
        result.oversize_closed = counters.oversize_closed
    ocpi_counters = ocpi.receiver.counters
    result.ocpi_accepted = ocpi_counters.accepted
    result.ocpi_rejected = ocpi_counters.rejected + ocpi_counters.unauthorized
    result.records_produced = forwarder.forwarded + worker_producer.sent
    result.spool_held = spool.held
    result.samples_processed = worker.samples_in
    if isinstance(server, OcppServer):
        result.values_dropped = server.counters.values_dropped
    result.outliers = worker.outliers
    result.resets = worker.resets
    result.estimated = worker.estimated
    result.too_late = worker.rejected
    result.rows_written = dict(sink.stats().rows_written)
    result.summary = format_site_summary(site_summary(data_dir, epoch=broker.epoch))
    return result


async def _run_load(
    options: RunOptions,
    server: OcppServer | OcppProxy,
    fleet: Fleet | None,
    sim_clock: SimClock | None,
    ledger: Ledger | None,
    stop: asyncio.Event,
) -> None:
    """Run the simulator (if any) until it ends, or wait for the duration or ``stop``.

    The fleet starts at ``sim_clock``'s start, a little after that clock did, so station
    times trail the connector's clock and are never taken for a clock running ahead.
    """
    if fleet is None or sim_clock is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), options.duration_s)
        return
    start = sim_clock.start
    log.info(
        "simulator: %d stations, %.0fx real time, simulated start %s",
        len(fleet.stations),
        options.speed,
        start.isoformat(),
    )
    await run_fleet(
        f"ws://127.0.0.1:{server.port}/ocpp",
        fleet,
        speed=options.speed,
        start=start,
        ledger=ledger,
        options=SimOptions(),  # 2.1 V2X sessions send NotifyEVChargingNeeds too
        duration_s=options.duration_s,
        stop=stop,
    )
