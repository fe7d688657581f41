"""The parts of gridstream, each started by one function (wiring only, like the CLI).

- ``start_connector``: the OCPP server (or proxy) and the OCPI receiver, their spool and
  the forwarder that takes the spool on to Kafka, the registry feed that keeps the
  connector's sites current, and the grid feeds (OpenADR VEN, grid-signals HTTP endpoint)
  when configured;
- ``start_worker``: the Faust app and the quarter-hour worker, with its state store under
  the data dir, its checkpoint log and its producer;
- ``start_sink``: the warehouse sink, Kafka to Parquet under the data dir.

``gridstream run`` starts all three in one process (``gridstream.pipeline``);
``gridstream connector``, ``worker`` and ``sink`` start one each against
``GRIDSTREAM_KAFKA_BOOTSTRAP`` (``gridstream.serve``), where ``gridstream broker`` can run
the embedded broker alone. Each start function enters what it started into the caller's
``AsyncExitStack``, so that everything is stopped, in reverse order, however the caller
ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from connectors.ocpi import (
    OcpiReceiver,
    OcpiServer,
    PartnerStore,
    PartyRef,
    get_versions,
    serve_ocpi,
)
from connectors.ocpi import app as ocpi_app
from connectors.ocpi.server import serve_asgi
from connectors.ocpp.proxy import OcppProxy, serve_ocpp_proxy
from connectors.ocpp.security import security_from_settings
from connectors.ocpp.server import OcppServer, serve_ocpp
from connectors.spool import Forwarder, KafkaTarget, ReleaseMode, Spool
from gridstream import metrics, registry_feed, topics
from gridstream.broker import SINK_GROUP, BrokerInfo
from gridstream.errors import ConfigError
from gridstream.follow import follow_topics
from gridstream.grid_feeds import (
    start_openadr_ven,
    start_signals_endpoint,
    start_tomp_poller,
    start_uftp_agr,
)
from gridstream.producer import RecordProducer
from gridstream.records import DeadLetter, OcpiEvse, Record, SiteAssignment, StationInfo
from gridstream.registry import SiteRegistry, parse_sites_file
from gridstream.registry_merge import RegistryMerge
from gridstream.settings import Settings
from gridstream.tasks import cancel_task, start_loop, stop_task
from streams.agents import batch_consumer, flex_offers, quarter_hour
from streams.agents.batch_worker import BatchWorker
from streams.app import create_app
from streams.checkpoint_log import CheckpointLog
from streams.compute.analytics import analytics
from streams.compute.limit_book import LimitBook
from streams.compute.needs_book import NeedsBook
from streams.compute.processor import SiteConfig
from streams.compute.signal_book import SignalBook
from streams.limit_feed import follow_limits
from streams.needs_feed import follow_needs
from streams.signal_feed import follow_signals
from streams.state_store import StateStore
from warehouse.compaction import compact_warehouse
from warehouse.sink import DeadLetterSink, ParquetSink, WrittenHook, make_sink_consumer, run_sink

log = logging.getLogger(__name__)

PartName = Literal["connector", "worker", "sink"]


def utc_now() -> datetime:
    """The real clock (the one place the parts read it)."""
    return datetime.now(UTC)


def id_token_key(settings: Settings) -> bytes:
    """The key that pseudonymises id tokens: the setting, else one kept in the data dir.

    Kept across runs so that the same token gets the same pseudonym in all of the history.
    """
    if settings.id_token_key is not None:
        return settings.id_token_key.get_secret_value().encode()
    path = settings.id_token_key_file or settings.data_dir / "id_token.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two parts starting at once cannot both write a key (one would lose); mode
        # 0600 at creation, so the key is never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
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
    return parse_sites_file(text, path.suffix, where=f"GRIDSTREAM_SITES_FILE={path}")


def spool_release_mode(settings: Settings, broker: BrokerInfo) -> ReleaseMode:
    """``GRIDSTREAM_SPOOL_RELEASE``, with ``auto`` resolved for ``broker``.

    The embedded broker keeps everything in memory, so what it acknowledged is durable
    only once the warehouse sink wrote it (``sink``); a configured Kafka cluster with
    replication makes an acknowledgement durable (``ack``).
    """
    if settings.spool_release != "auto":
        return settings.spool_release
    return "sink" if broker.embedded else "ack"


async def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> bool:
    """Poll ``predicate`` until true (True) or ``timeout_s`` passed (False, logged)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            log.warning("drain: gave up waiting for %s after %.0f s", what, timeout_s)
            return False
        await asyncio.sleep(0.2)
    return True


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """While in the block, SIGINT and SIGTERM set ``stop``; a second one cancels the task.

    The first signal lets the caller stop cleanly (drain, flush, summary); the second does
    not wait for that (every part is still stopped by its exit stack).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


async def _close_server(server: OcppServer | OcppProxy) -> None:
    server.close()
    await server.wait_closed()


async def start_registry_merge(
    parts: contextlib.AsyncExitStack,
    broker: BrokerInfo,
    publish: Callable[[Sequence[Record]], Awaitable[None]],
    assignments: Sequence[SiteAssignment],
) -> RegistryMerge:
    """Publish on ``registry.sites`` what the sites file, OCPI Locations and boots say.

    The configured ``assignments`` are published at once; then every station boot
    (``registry.stations``) and OCPI EVSE (``ocpi.locations``) that changes a station's
    merged entry publishes it again (``gridstream.registry_merge``), until ``parts`` closes.
    """
    merge = RegistryMerge(assignments)
    await publish(merge.start())
    changed: asyncio.Queue[list[SiteAssignment]] = asyncio.Queue()

    def on_boot(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if value is not None:
            with contextlib.suppress(ValidationError, ValueError):  # the sink dead-letters it
                changed.put_nowait(merge.boot(StationInfo.from_json(value)))

    def on_evse(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if value is not None:
            with contextlib.suppress(ValidationError, ValueError):
                changed.put_nowait(merge.location_evse(OcpiEvse.from_json(value)))

    async def publish_changes() -> None:
        while True:
            entries = await changed.get()
            if entries:
                await publish(entries)

    handlers = {topics.REGISTRY_STATIONS.name: on_boot, topics.OCPI_LOCATIONS.name: on_evse}
    start_loop(
        parts,
        "registry-merge",
        partial(follow_topics, broker.bootstrap, handlers, client_id="gridstream-registry-merge"),
    )
    publisher = asyncio.create_task(publish_changes(), name="registry-merge:publish")
    parts.push_async_callback(cancel_task, publisher)
    return merge


async def start_metrics(parts: contextlib.AsyncExitStack, settings: Settings) -> int | None:
    """Serve this process's metrics on ``GRIDSTREAM_METRICS_HOST:PORT``/metrics, if set.

    Each process serves its own registry on a port of its own, from its own event loop
    (the uvicorn that serves OCPI): the worker and the sink have no HTTP server to mount it
    on, and one way for every part is simpler than two. Returns the port (None: not
    served); ``ConfigError`` if the port is taken.
    """
    if settings.metrics_port is None:
        return None
    try:
        server = await serve_asgi(settings.metrics_host, settings.metrics_port, metrics.asgi_app())
    except OSError as exc:
        raise ConfigError(
            f"the metrics endpoint cannot listen on {settings.metrics_host}:"
            f"{settings.metrics_port} ({exc.strerror}); set GRIDSTREAM_METRICS_PORT to a "
            "free port (0 picks one), one per process on a host"
        ) from None
    parts.push_async_callback(server.close)
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, server.port)
    return server.port


async def start_lag_sampler(
    parts: contextlib.AsyncExitStack, group: str, consumer: metrics.LagSource
) -> None:
    """Keep ``gridstream_consumer_lag`` of ``group`` current until ``parts`` closes."""
    start_loop(parts, f"lag:{group}", partial(metrics.follow_lag, group, consumer))


def partners_file(settings: Settings) -> Path:
    """Where the OCPI partners (tokens as hashes, registrations) are kept."""
    return settings.data_dir / "ocpi" / "partners.json"


async def start_ocpi(
    settings: Settings,
    publish: ocpi_app.Publish,
    dead_letter: ocpi_app.DeadLetterSink,
    site_of: Callable[[str], str],
) -> OcpiServer:
    """Start the OCPI receiver on ``GRIDSTREAM_OCPI_HOST:PORT``; ``ConfigError`` if taken."""
    receiver = OcpiReceiver(
        publish=publish,
        dead_letter=dead_letter,
        partners=PartnerStore(partners_file(settings)),
        site_of=site_of,
        now=utc_now,
        peer=get_versions,
        own_party=PartyRef(settings.ocpi_country_code, settings.ocpi_party_id),
        id_token_key=id_token_key(settings),
    )
    try:
        server = await serve_ocpi(settings.ocpi_host, settings.ocpi_port, receiver)
    except OSError as exc:
        raise ConfigError(
            f"the OCPI receiver cannot listen on {settings.ocpi_host}:{settings.ocpi_port} "
            f"({exc.strerror}); set GRIDSTREAM_OCPI_PORT to a free port (0 picks one)"
        ) from None
    log.info(
        "OCPI receiver listening on http://%s:%d/ocpi/versions", settings.ocpi_host, server.port
    )
    return server


@dataclass
class ConnectorPart:
    """A running connector: stations answered once their records are in the spool."""

    spool: Spool
    forwarder: Forwarder
    server: OcppServer | OcppProxy
    scheme: str
    ocpi: OcpiServer
    #: Keeps a dead letter for the ``dlq`` topic (through the spool, like every record).
    dead_letter: DeadLetterSink

    async def close_servers(self) -> None:
        """Stop taking stations' and partners' messages (the spool and forwarder go on)."""
        await _close_server(self.server)
        await self.ocpi.close()

    def __str__(self) -> str:
        counters = self.server.counters
        ocpi = self.ocpi.receiver.counters
        return (
            f"OCPP messages accepted {counters.accepted}, rejected {counters.rejected}; "
            f"OCPI requests accepted {ocpi.accepted}, refused "
            f"{ocpi.rejected + ocpi.unauthorized}; records forwarded "
            f"{self.forwarder.forwarded}; spool entries held {self.spool.held}"
        )


async def start_connector(
    parts: contextlib.AsyncExitStack,
    settings: Settings,
    broker: BrokerInfo,
    registry: SiteRegistry,
    assignments: Sequence[SiteAssignment],
    now: Callable[[], datetime] = utc_now,
) -> ConnectorPart:
    """Start the spool, its forwarder, the OCPP server (or proxy), OCPI, registry and grid feeds.

    ``assignments`` (the sites file's, the simulator's) are published to ``registry.sites``
    once the server listens; ``now`` is the connector's clock. ``ConfigError`` when the
    OCPP port is in use or the security settings do not fit the mode.
    """
    # The connector answers a station once its records are in the spool (on disk); the
    # forwarder takes them on to the broker, retrying while it is away, and the spool lets
    # go of them once they are durable (GRIDSTREAM_SPOOL_RELEASE).
    spool = Spool(
        settings.spool_dir or settings.data_dir / "spool",
        max_bytes=settings.spool_max_bytes,
        mode=spool_release_mode(settings, broker),
    )
    await spool.start()
    parts.push_async_callback(spool.close)
    forwarder = Forwarder(spool, KafkaTarget(broker.bootstrap, client_id="gridstream-ocpp"))
    await forwarder.start()
    parts.push_async_callback(forwarder.stop)

    async def dead_letter(letter: DeadLetter) -> None:
        await spool.publish([letter])

    security = security_from_settings(settings)
    try:
        server: OcppServer | OcppProxy
        if settings.ocpp_upstream_url is not None:
            server = await serve_ocpp_proxy(
                settings.ocpp_host,
                settings.ocpp_port,
                upstream_url=settings.ocpp_upstream_url,
                publish=spool.publish,
                dead_letter=dead_letter,
                registry=registry,
                now=now,
                id_token_key=id_token_key(settings),
                ssl_context=security.ssl_context,
                limits=security.limits,
                # With a credentials file, stations are checked before the CSMS is
                # contacted for them (the CSMS checks them again).
                authenticator=security.authenticator,
            )
            log.info("proxy mode: stations' frames go to %s", settings.ocpp_upstream_url)
        else:
            server = await serve_ocpp(
                settings.ocpp_host,
                settings.ocpp_port,
                publish=spool.publish,
                dead_letter=dead_letter,
                registry=registry,
                now=now,
                id_token_key=id_token_key(settings),
                authenticator=security.authenticator,
                ssl_context=security.ssl_context,
                limits=security.limits,
            )
    except OSError as exc:
        raise ConfigError(
            f"the OCPP connector cannot listen on {settings.ocpp_host}:"
            f"{settings.ocpp_port} ({exc.strerror}); set GRIDSTREAM_OCPP_PORT to a free "
            "port (0 picks one)"
        ) from None
    parts.push_async_callback(_close_server, server)
    ocpi = await start_ocpi(settings, spool.publish, dead_letter, registry.site_of)
    parts.push_async_callback(ocpi.close)
    await start_registry_merge(parts, broker, spool.publish, assignments)
    start_loop(
        parts, "registry-feed", partial(registry_feed.follow_registry, broker.bootstrap, registry)
    )
    # The grid feeds (each only when configured) publish through the same spool.
    await start_openadr_ven(settings, spool.publish, parts, utc_now)
    await start_signals_endpoint(settings, spool.publish, parts, utc_now)
    await start_uftp_agr(settings, broker.bootstrap, spool.publish, parts, utc_now)
    await start_tomp_poller(settings, spool.publish, registry.site_of, parts, utc_now)
    metrics.watch(metrics.SPOOL_ENTRIES, lambda: spool.held, ["connector"])
    metrics.watch(metrics.STATIONS_CONNECTED, lambda: _open_connections(server))
    log.info(
        "OCPP connector listening on %s://%s:%d/ocpp/{station_id}",
        security.scheme,
        settings.ocpp_host,
        server.port,
    )
    return ConnectorPart(spool, forwarder, server, security.scheme, ocpi, dead_letter)


def _open_connections(server: OcppServer | OcppProxy) -> int:
    return len(server.server.connections) if server.server is not None else 0


@dataclass
class WorkerPart:
    """A running quarter-hour worker and the producer of its outputs."""

    worker: quarter_hour.QuarterHourWorker
    producer: RecordProducer
    #: The second stage: the sites' flexibility summed per congestion area.
    offers: BatchWorker

    def __str__(self) -> str:
        w = self.worker
        return (
            f"samples processed {w.samples_in}; quarter-hours {w.loads_out}, peaks "
            f"{w.peaks_out}, capacity violations {w.counts['violations']}, flexibility offers "
            f"{self.offers.counts['flex_offers']}; records produced "
            f"{self.producer.sent}"
        )


async def start_worker(
    parts: contextlib.AsyncExitStack,
    settings: Settings,
    broker: BrokerInfo,
    registry: SiteRegistry,
    *,
    follow_registry: bool,
    on_failure: Callable[[], object] | None = None,
) -> WorkerPart:
    """Start the quarter-hour worker and the flexibility agent (state under the data dir).

    The quarter-hour worker reads meter.samples in consumer group ``gridstream`` through
    its getmany loop (``streams.agents.batch_consumer``: Faust's per-record cost would
    halve its rate); the flexibility agent, one record per site and quarter-hour, is a Faust
    agent in group ``gridstream-flex``.

    The worker reads sites' time zones and rated powers from ``registry``: with
    ``follow_registry`` it starts a registry feed of its own (a worker process alone),
    else another part keeps ``registry`` current (the connector, in ``gridstream run``).
    ``on_failure`` is called if the worker's loop dies of an error (then stop the process:
    closing ``parts`` re-raises it).
    """
    producer = RecordProducer(broker.bootstrap, client_id="gridstream-worker")
    await producer.start()
    parts.push_async_callback(producer.stop)
    if follow_registry:
        start_loop(
            parts,
            "registry-feed",
            partial(registry_feed.follow_registry, broker.bootstrap, registry),
        )
    signals = SignalBook()
    start_loop(parts, "signal-feed", partial(follow_signals, broker.bootstrap, signals))
    needs = NeedsBook()
    start_loop(parts, "needs-feed", partial(follow_needs, broker.bootstrap, needs))
    limits = LimitBook()
    start_loop(parts, "limit-feed", partial(follow_limits, broker.bootstrap, limits))
    app = create_app(settings, broker.bootstrap, app_id=flex_offers.GROUP)
    state_dir = settings.data_dir / "state"

    async def checkpoints(topic: topics.Topic, group: str) -> CheckpointLog | None:
        if not settings.checkpoint_topic:
            return None
        log = CheckpointLog(broker.bootstrap, broker.epoch, group, topic.name)
        await log.start()
        parts.push_async_callback(log.stop)
        return log

    worker_checkpoints = await checkpoints(topics.CHECKPOINTS, quarter_hour.GROUP)
    loop = batch_consumer.worker_loop(
        broker.bootstrap,
        quarter_hour.GROUP,
        lambda seek: quarter_hour.QuarterHourWorker(
            SiteConfig.from_settings(settings),
            registry,
            producer.publish,
            StateStore(state_dir / f"{quarter_hour.STATE_NAME}.sqlite3", broker.epoch),
            utc_now,
            seek,
            computations=analytics(settings),
            checkpoint_log=worker_checkpoints,
            signals=signals,
            needs=needs,
            limits=limits,
            checkpoint_every_s=settings.checkpoint_interval_s,
        ),
        quarter_hour.STATE_NAME,
        batch_size=settings.worker_batch_size,
        poll_s=settings.worker_batch_within_s,
        on_failure=on_failure,
    )
    offers = flex_offers.flex_offers_worker(
        registry,
        producer.publish,
        StateStore(state_dir / f"{flex_offers.STATE_NAME}.sqlite3", broker.epoch),
        utc_now,
        flex_offers.faust_seek(app),
        checkpoint_log=await checkpoints(topics.FLEX_CHECKPOINTS, flex_offers.GROUP),
        checkpoint_every_s=settings.checkpoint_interval_s,
    )
    flex_offers.register(app, settings, offers)
    app.finalize()
    # Last, once the app has stopped: checkpoint what was applied since the last interval.
    parts.push_async_callback(offers.flush)
    await app.start()
    parts.push_async_callback(app.stop)
    await start_lag_sampler(parts, flex_offers.GROUP, app.consumer)
    await loop.start()  # its stop checkpoints and commits what was applied
    parts.push_async_callback(loop.stop)
    await start_lag_sampler(parts, quarter_hour.GROUP, loop.consumer)
    return WorkerPart(loop.worker, producer, offers)


@dataclass
class SinkPart:
    """A running warehouse sink."""

    sink: ParquetSink
    data_dir: Path

    def __str__(self) -> str:
        rows = self.sink.stats().rows_written
        written = ", ".join(f"{t} {n}" for t, n in sorted(rows.items()) if n)
        return f"warehouse {self.data_dir}: {written or 'nothing written'}"


async def start_sink(
    parts: contextlib.AsyncExitStack,
    settings: Settings,
    broker: BrokerInfo,
    dead_letter: DeadLetterSink,
    on_written: WrittenHook | None = None,
) -> SinkPart:
    """Start the warehouse sink: every catalog topic to Parquet under the data dir.

    Records that do not fit their schema go to ``dead_letter``; ``on_written`` hears of
    every flush (a spool in sink release mode lets go of what was written).
    """
    sink = ParquetSink(settings.data_dir, broker.epoch)
    consumer = make_sink_consumer(broker.bootstrap, SINK_GROUP, [t.name for t in topics.ALL], sink)
    await consumer.start()
    parts.push_async_callback(consumer.stop)
    await start_lag_sampler(parts, SINK_GROUP, consumer)
    sink_stop = asyncio.Event()
    sink_task = asyncio.create_task(
        run_sink(
            consumer,
            sink,
            settings.sink_flush_interval_s,
            sink_stop,
            dead_letter=dead_letter,
            now=utc_now,
            on_written=on_written,
        ),
        name="sink",
    )
    parts.push_async_callback(stop_task, sink_task, sink_stop)
    if settings.compact_interval_s > 0:
        start_loop(parts, "compaction", partial(_compact_every, settings))
    return SinkPart(sink, settings.data_dir)


async def _compact_every(settings: Settings, stop: asyncio.Event) -> None:
    """Compact the warehouse and apply the retention every ``compact_interval_s``."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), settings.compact_interval_s)
            return
        except TimeoutError:
            pass
        try:
            done = await asyncio.to_thread(
                compact_warehouse,
                settings.data_dir,
                utc_now().date(),
                settings.retention_days,
                settings.compact_target_mb * 1024 * 1024,
            )
        except Exception:  # the next round tries again; the sink goes on meanwhile
            log.exception("warehouse compaction failed")
            continue
        merged = sum(d.files_before - d.files_after for d in done)
        log.info("warehouse compacted: %d files fewer, %d rows past retention deleted", merged,
                 sum(d.rows_expired for d in done))  # fmt: skip
