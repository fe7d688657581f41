"""Starts and stops the parts of ``gridstream run`` (wiring only; the CLI calls it).

Order of start: broker (embedded unless configured) with every catalog topic, producers,
the OCPP connector (first, so that a port in use fails before anything else runs), the
registry feed, the warehouse sink, the Faust worker, then the fleet simulator. Order of
stop is the reverse, with a drain before it: once the stations are done, the worker
finishes what the connector produced and the sink writes everything that was produced, so
the summary read back from DuckDB matches what the stations sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connectors.ocpp.server import OcppServer, serve_ocpp
from gridstream import topics
from gridstream.broker import BrokerInfo, broker_session
from gridstream.errors import ConfigError
from gridstream.periods import quarter_hour_start
from gridstream.producer import RecordProducer
from gridstream.records import DeadLetter, SiteAssignment
from gridstream.registry import SiteRegistry, parse_sites_csv
from gridstream.registry_feed import follow_registry
from gridstream.settings import Settings
from simulator.fleet import Fleet, default_fleet
from simulator.ledger import Ledger
from simulator.stations import SimOptions, run_fleet
from streams.agents import quarter_hour
from streams.app import create_app
from streams.compute.processor import SiteConfig
from streams.snapshots import SnapshotStore
from warehouse.catalog import refresh_views
from warehouse.report import format_site_summary, site_summary
from warehouse.sink import ParquetSink, make_sink_consumer, run_sink

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The real clock (the one place the pipeline reads it)."""
    return datetime.now(UTC)


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
    #: Valid messages answered InternalError because the broker did not acknowledge them
    #: (the station retries them), and bugs: both must be looked at.
    messages_not_stored: int = 0
    internal_errors: int = 0
    records_produced: int = 0
    samples_processed: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    summary: str = ""

    def __str__(self) -> str:
        broker = "embedded Tansu" if self.broker.embedded else self.broker.bootstrap
        return (
            f"gridstream run finished (broker: {broker}, OCPP port {self.ocpp_port})\n"
            f"  OCPP messages accepted {self.messages_accepted}, rejected "
            f"{self.messages_rejected}; records produced {self.records_produced}; "
            f"samples processed by the worker {self.samples_processed}\n"
            + (
                f"  NOT STORED (broker did not acknowledge; stations were told to retry): "
                f"{self.messages_not_stored}; internal errors: {self.internal_errors}\n"
                if self.messages_not_stored or self.internal_errors
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


def id_token_key(settings: Settings) -> bytes:
    """The key that pseudonymises id tokens: the setting, else one kept in the data dir.

    Kept across runs so that the same token gets the same pseudonym in all of the history.
    """
    if settings.id_token_key is not None:
        return settings.id_token_key.get_secret_value().encode()
    path = settings.data_dir / "id_token.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def load_sites(settings: Settings) -> list[SiteAssignment]:
    """The assignments of ``GRIDSTREAM_SITES_FILE``, or none; ``ConfigError`` if it is bad."""
    path = settings.sites_file
    if path is None:
        return []
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"GRIDSTREAM_SITES_FILE={path}: cannot read it: {exc}") from None
    return parse_sites_csv(text, where=f"GRIDSTREAM_SITES_FILE={path}")


async def _wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            log.warning("drain: gave up waiting for %s after %.0f s", what, timeout_s)
            return False
        await asyncio.sleep(0.2)
    return True


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
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    this_run = asyncio.current_task()

    def on_signal() -> None:
        # The first Ctrl-C drains and summarises; a second one does not wait for that.
        if stop.is_set() and this_run is not None:
            this_run.cancel()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
    # A bad sites file is refused before anything starts.
    sites = load_sites(settings)
    try:
        with broker_session(settings.kafka_bootstrap) as broker:
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
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


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

    # Every part that started is stopped, in reverse order, however the run ends: a part
    # left running (a Faust consumer thread, say) would keep the process alive.
    async with contextlib.AsyncExitStack() as parts:
        connector_producer = RecordProducer(broker.bootstrap, client_id="gridstream-ocpp")
        await connector_producer.start()
        parts.push_async_callback(connector_producer.stop)
        worker_producer = RecordProducer(broker.bootstrap, client_id="gridstream-worker")
        await worker_producer.start()
        parts.push_async_callback(worker_producer.stop)

        async def dead_letter(letter: DeadLetter) -> None:
            await connector_producer.publish([letter])

        # The connector first: a port in use is reported before anything else starts.
        try:
            server = await serve_ocpp(
                settings.ocpp_host,
                settings.ocpp_port,
                publish=connector_producer.publish,
                dead_letter=dead_letter,
                registry=registry,
                now=utc_now,
                id_token_key=id_token_key(settings),
            )
        except OSError as exc:
            raise ConfigError(
                f"the OCPP connector cannot listen on {settings.ocpp_host}:"
                f"{settings.ocpp_port} ({exc.strerror}); set GRIDSTREAM_OCPP_PORT to a free "
                "port (0 picks one)"
            ) from None
        parts.push_async_callback(_close_server, server)

        await connector_producer.publish(assignments)
        feed_stop = asyncio.Event()
        feed_task = asyncio.create_task(
            follow_registry(broker.bootstrap, registry, feed_stop), name="registry-feed"
        )
        parts.push_async_callback(_stop_task, feed_task, feed_stop)

        sink = ParquetSink(data_dir, broker.epoch)
        consumer = make_sink_consumer(
            broker.bootstrap, "gridstream-warehouse", [t.name for t in topics.ALL], sink
        )
        await consumer.start()
        parts.push_async_callback(consumer.stop)
        sink_stop = asyncio.Event()
        sink_task = asyncio.create_task(
            run_sink(
                consumer,
                sink,
                settings.sink_flush_interval_s,
                sink_stop,
                dead_letter=dead_letter,
                now=utc_now,
            ),
            name="sink",
        )
        parts.push_async_callback(_stop_task, sink_task, sink_stop)

        app = create_app(settings, broker.bootstrap)
        worker = quarter_hour.QuarterHourWorker(
            SiteConfig.from_settings(settings),
            registry,
            worker_producer.publish,
            SnapshotStore(data_dir / "state", quarter_hour.SNAPSHOT_NAME, broker.epoch),
            utc_now,
        )
        quarter_hour.register(app, settings, worker)
        app.finalize()
        await app.start()
        parts.push_async_callback(app.stop)

        result = RunResult(broker=broker, ocpp_port=server.port, data_dir=data_dir)
        log.info(
            "OCPP connector listening on ws://%s:%d/ocpp/{station_id}",
            settings.ocpp_host,
            server.port,
        )
        if on_ready is not None:
            on_ready(result)

        async def progress() -> None:
            while True:
                await asyncio.sleep(10)
                log.info(
                    "OCPP messages accepted %d, rejected %d; samples processed %d; "
                    "quarter-hours %d, peaks %d; warehouse rows %d",
                    server.counters.accepted, server.counters.rejected, worker.samples_in,
                    worker.loads_out, worker.peaks_out, sum(sink.stats().rows_written.values()),
                )  # fmt: skip

        progress_task = asyncio.create_task(progress(), name="progress")
        parts.callback(progress_task.cancel)

        await _run_load(options, server, fleet, ledger, stop)
        await _close_server(server)  # no new data: let the worker and the sink catch up

        def worker_caught_up() -> bool:
            return all(
                worker.processed.get(p, -1) >= off
                for (t, p), off in connector_producer.acked.items()
                if t == topics.METER_SAMPLES.name
            )

        await _wait_for(worker_caught_up, options.drain_timeout_s, "the worker")
        acked = {**connector_producer.acked, **worker_producer.acked}

        def sink_caught_up() -> bool:
            # flushed_offsets also moves past records that left no row (tombstones).
            written = sink.flushed_offsets()
            return all(written.get(tp, 0) > off for tp, off in acked.items())

        await _wait_for(sink_caught_up, options.drain_timeout_s, "the warehouse sink")

    refresh_views(data_dir)
    result.messages_accepted = server.counters.accepted
    result.messages_rejected = server.counters.rejected
    result.messages_not_stored = server.counters.publish_failed
    result.internal_errors = server.counters.internal_errors
    result.records_produced = connector_producer.sent + worker_producer.sent
    result.samples_processed = worker.samples_in
    result.rows_written = dict(sink.stats().rows_written)
    result.summary = format_site_summary(site_summary(data_dir, epoch=broker.epoch))
    return result


async def _close_server(server: OcppServer) -> None:
    server.close()
    await server.wait_closed()


async def _stop_task(task: asyncio.Task[object], stop: asyncio.Event) -> None:
    """Ask a loop task to finish (its ``stop`` event), wait for it, re-raise its error."""
    stop.set()
    await task


async def _run_load(
    options: RunOptions,
    server: OcppServer,
    fleet: Fleet | None,
    ledger: Ledger | None,
    stop: asyncio.Event,
) -> None:
    """Run the simulator (if any) until it ends, or wait for the duration or ``stop``."""
    if fleet is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), options.duration_s)
        return
    start = quarter_hour_start(utc_now())
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
        # The connector does not take NotifyEVChargingNeeds yet (issue 3): keep it off.
        options=SimOptions(charging_needs=False),
        duration_s=options.duration_s,
        stop=stop,
    )
