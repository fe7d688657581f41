"""One part of gridstream as a process of its own (``gridstream broker|connector|worker|sink``).

``serve_broker`` runs the embedded broker alone and announces its bootstrap address;
``serve_part`` runs the connector, the worker or the sink against
``GRIDSTREAM_KAFKA_BOOTSTRAP`` (a Kafka cluster, or the address ``gridstream broker``
printed), so that each can run on its own host and the workers scale by processes. Each
runs until SIGINT or SIGTERM, then stops cleanly (the connector stops taking messages and
lets its forwarder send what the spool holds; the sink writes what it buffered) and returns
a one-line summary: the command exits 0. A second signal does not wait for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from gridstream.broker import EmbeddedBroker, Replication, broker_session, ensure_topics
from gridstream.errors import ConfigError
from gridstream.grid_feeds import openadr_ven_config
from gridstream.parts import (
    PartName,
    load_sites,
    start_connector,
    start_metrics,
    start_sink,
    start_worker,
    stop_on_signals,
    wait_for,
)
from gridstream.producer import RecordProducer
from gridstream.records import DeadLetter
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings

log = logging.getLogger(__name__)

Announce = Callable[[str], None]
"""Told, once, the line that says a process is ready (the CLI prints it on stdout)."""


async def serve_broker(
    settings: Settings,
    port: int = 0,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Announce | None = None,
) -> str:
    """Run the embedded broker (every catalog topic created) until ``stop`` or a signal.

    Announces ``GRIDSTREAM_KAFKA_BOOTSTRAP=<host:port>`` once the topics exist. ``port`` 0
    takes a free one. The broker keeps its topics in memory: they end with it.
    """
    stop = stop or asyncio.Event()
    replication = Replication.resolve(
        settings.topic_replication_factor, settings.topic_min_insync_replicas, embedded=True
    )
    with stop_on_signals(stop), EmbeddedBroker(port or None) as broker:
        ensure_topics(broker.bootstrap, replication=replication)
        log.info(
            "for the other parts: export GRIDSTREAM_KAFKA_BOOTSTRAP=%s "
            "GRIDSTREAM_TOPIC_REPLICATION_FACTOR=%d GRIDSTREAM_TOPIC_MIN_INSYNC_REPLICAS=%d "
            "(one node: one copy of each partition)",
            broker.bootstrap,
            replication.factor,
            replication.min_insync,
        )
        if on_ready is not None:
            on_ready(f"GRIDSTREAM_KAFKA_BOOTSTRAP={broker.bootstrap}")
        await stop.wait()
    return f"gridstream broker stopped (cluster {broker.cluster_id}; its topics were in memory)"


def _require_bootstrap(settings: Settings, part: PartName) -> str:
    if not settings.kafka_bootstrap:
        raise ConfigError(
            f"the {part} runs against a running broker: set GRIDSTREAM_KAFKA_BOOTSTRAP "
            "to the Kafka cluster's bootstrap servers (host:port,...), or to the address "
            "`gridstream broker` printed. `gridstream run` starts every part, broker "
            "included, in one process."
        )
    return settings.kafka_bootstrap


async def serve_part(
    settings: Settings,
    part: PartName,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Announce | None = None,
    drain_timeout_s: float = 30.0,
) -> str:
    """Run one part against ``GRIDSTREAM_KAFKA_BOOTSTRAP`` until ``stop`` or a signal.

    ``ConfigError`` (before anything starts) without the bootstrap setting, or for a
    connector with ``GRIDSTREAM_SPOOL_RELEASE=sink`` (only a sink in the same process,
    ``gridstream run``, could release its spool). Returns the part's summary.
    """
    bootstrap = _require_bootstrap(settings, part)
    if part == "connector" and settings.spool_release == "sink":
        raise ConfigError(
            "GRIDSTREAM_SPOOL_RELEASE=sink needs the warehouse sink in the connector's "
            "process (gridstream run); a connector alone releases its spool once Kafka "
            "acknowledged (ack): unset GRIDSTREAM_SPOOL_RELEASE or set it to ack"
        )
    # The connector publishes the sites file and the worker reads time zones and rated
    # powers from it; a bad one is refused before anything starts.
    sites = load_sites(settings) if part != "sink" else []
    if part == "connector":
        openadr_ven_config(settings)  # the connector starts the VEN: refuse a bad one now
    stop = stop or asyncio.Event()
    announce = on_ready or (lambda _line: None)
    with (
        stop_on_signals(stop),
        broker_session(
            bootstrap,
            replication_factor=settings.topic_replication_factor,
            min_insync_replicas=settings.topic_min_insync_replicas,
        ) as broker,
    ):
        registry = SiteRegistry(settings.site_timezone)
        for assignment in sites:
            registry.assign(assignment)
        async with contextlib.AsyncExitStack() as parts:
            await start_metrics(parts, settings)
            if part == "connector":
                connector = await start_connector(parts, settings, broker, registry, sites)
                announce(
                    f"gridstream connector: OCPP on {connector.scheme}://{settings.ocpp_host}:"
                    f"{connector.server.port}/ocpp/{{station_id}}"
                )
                await stop.wait()
                await connector.close_servers()  # no new messages; send what the spool holds
                await wait_for(
                    lambda: connector.forwarder.caught_up, drain_timeout_s, "the spool forwarder"
                )
                summary: object = connector
            elif part == "worker":
                summary = await start_worker(
                    parts, settings, broker, registry, follow_registry=True, on_failure=stop.set
                )
                announce(f"gridstream worker: quarter-hour worker, state in {settings.data_dir}")
                await stop.wait()
            else:
                producer = RecordProducer(broker.bootstrap, client_id="gridstream-sink")
                await producer.start()
                parts.push_async_callback(producer.stop)

                async def dead_letter(letter: DeadLetter) -> None:
                    await producer.publish([letter])

                summary = await start_sink(parts, settings, broker, dead_letter)
                announce(f"gridstream sink: writing Parquet under {settings.data_dir}")
                await stop.wait()
    return f"gridstream {part} stopped: {summary}"
