"""``gridstream signals import``: grid documents from files, through Kafka, into the warehouse.

Wiring only (like ``gridstream.pipeline``; the CLI calls it): the files are read here, the
pure parsers of ``connectors.grid`` turn them into signals and rejections, the signals go
to ``grid.signals`` and the rejections, raw and with their reason, to ``dlq``, each with
acks=all. With a configured broker (``GRIDSTREAM_KAFKA_BOOTSTRAP``) that is all: the
running pipeline's sink writes them. With none, the embedded broker is started for the
import together with a warehouse sink, and the import returns once the sink has written
everything it produced, so that ``gridstream query`` shows the signals next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from connectors.grid import Format, detect_format, parse_as
from connectors.grid.entsoe_api import EntsoeClient, EntsoeQuery
from connectors.grid.formats import NEEDS_SITE
from connectors.grid.result import Rejected
from gridstream import topics
from gridstream.broker import BrokerInfo, broker_session
from gridstream.errors import BrokerError, ConfigError
from gridstream.producer import RecordProducer
from gridstream.records import DeadLetter, GridSignal, Record
from gridstream.settings import Settings
from warehouse.catalog import refresh_views
from warehouse.sink import ParquetSink, make_sink_consumer, run_sink

log = logging.getLogger(__name__)

#: How long the embedded-mode import waits for its sink (a group join takes ~5 s).
SINK_TIMEOUT_S = 120.0


@dataclass
class ImportResult:
    """What an import did, for its summary line and for tests."""

    files: int
    signals: int
    rejected: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    broker: BrokerInfo | None = None
    rows_written: dict[str, int] = field(default_factory=dict)
    #: What ``files`` counts, for the summary.
    inputs: str = "file(s)"

    def __str__(self) -> str:
        where = (
            "embedded Tansu; written to the warehouse"
            if self.broker is not None and self.broker.embedded
            else (self.broker.bootstrap if self.broker is not None else "no broker")
        )
        rejected = ", ".join(f"{code} {n}" for code, n in sorted(self.rejected.items()))
        formats = ", ".join(f"{fmt} {n}" for fmt, n in sorted(self.formats.items()))
        return (
            f"gridstream signals import: {self.signals} signals from {self.files} {self.inputs} "
            f"({formats or 'none'}) to {topics.GRID_SIGNALS.name} (broker: {where})"
            + (f"; rejected to {topics.DLQ.name}: {rejected}" if rejected else "")
        )


def parse_files(
    files: Sequence[tuple[str, bytes]],
    fmt: Format | None,
    received_at: datetime,
    site_id: str | None = None,
) -> tuple[list[GridSignal], list[DeadLetter], Counter[str]]:
    """Signals and dead letters of ``(name, content)`` files, and the formats seen.

    ``fmt`` None: each file's format is detected (``connectors.grid.detect_format``); a
    file in no known format is one ``unknown_format`` dead letter. A dead letter's source
    is ``<format>:<file name>``. ``site_id`` is the site of documents that name none (P1
    telegrams); without it, such a file raises ``ConfigError`` before anything is parsed.
    """
    formats_of = [(name, data, fmt or detect_format(name, data)) for name, data in files]
    if site_id is None:
        unsited = [name for name, _, found in formats_of if found in NEEDS_SITE]
        if unsited:
            raise ConfigError(
                f"signals import: {', '.join(unsited)} name no site (P1 telegrams): "
                "pass --site SITE_ID"
            )
    signals: list[GridSignal] = []
    letters: list[DeadLetter] = []
    formats: Counter[str] = Counter()
    for name, data, found in formats_of:
        if found is None:
            letter = Rejected(
                "unknown_format",
                f"{name}: not a format gridstream detects; pass --format",
                data.decode("utf-8", errors="replace"),
            ).to_dead_letter(f"file:{name}", received_at)
            letters.append(letter)
            continue
        formats[found] += 1
        parsed = parse_as(found, data, received_at, site_id)
        signals.extend(parsed.signals)
        letters.extend(r.to_dead_letter(f"{found}:{name}", received_at) for r in parsed.rejected)
    return signals, letters, formats


def read_files(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    """``(name, content)`` of each path; ``ConfigError`` naming one that cannot be read."""
    out = []
    for path in paths:
        try:
            out.append((path.name, path.read_bytes()))
        except OSError as exc:
            raise ConfigError(f"signals import: cannot read {path}: {exc.strerror}") from None
    return out


async def import_signals(
    settings: Settings,
    paths: Sequence[Path],
    fmt: Format | None = None,
    *,
    site_id: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ImportResult:
    """Import grid documents from ``paths`` (format ``fmt``, detected when None).

    ``site_id``: the site of documents that name none (P1 telegrams).

    Returns once the broker acknowledged every signal and dead letter, and (embedded
    broker) once the warehouse sink wrote them and the views were refreshed.
    """
    files = read_files(paths)  # a missing file is refused before anything starts
    signals, letters, formats = parse_files(files, fmt, now(), site_id)
    result = ImportResult(len(files), len(signals), Counter(d.reason for d in letters), formats)
    with broker_session(
        settings.kafka_bootstrap,
        replication_factor=settings.topic_replication_factor,
        min_insync_replicas=settings.topic_min_insync_replicas,
    ) as broker:
        result.broker = broker
        result.rows_written = await publish_records(broker, settings, [*signals, *letters], now)
    return result


async def fetch_entsoe(
    settings: Settings,
    query: EntsoeQuery,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ImportResult:
    """Fetch ``query`` from the ENTSO-E API (``GRIDSTREAM_ENTSOE_TOKEN``) and import it.

    Like ``import_signals``: through Kafka, and with no broker configured into the
    warehouse before it returns.
    """
    if settings.entsoe_token is None:
        raise ConfigError("signals fetch: set GRIDSTREAM_ENTSOE_TOKEN (the TP security token)")
    received_at = now()
    async with aiohttp.ClientSession() as session:
        client = EntsoeClient(session, settings.entsoe_token.get_secret_value(),
                              settings.entsoe_api_url)  # fmt: skip
        parsed = await client.fetch(query, received_at)
    source = f"entsoe:{query.document_type}:{query.area}"
    letters = [r.to_dead_letter(source, received_at) for r in parsed.rejected]
    result = ImportResult(1, len(parsed.signals), Counter(d.reason for d in letters),
                          Counter({"entsoe": 1}), inputs="API query")  # fmt: skip
    with broker_session(
        settings.kafka_bootstrap,
        replication_factor=settings.topic_replication_factor,
        min_insync_replicas=settings.topic_min_insync_replicas,
    ) as broker:
        result.broker = broker
        result.rows_written = await publish_records(
            broker, settings, [*parsed.signals, *letters], now
        )
    return result


async def publish_records(
    broker: BrokerInfo,
    settings: Settings,
    records: Sequence[Record],
    now: Callable[[], datetime],
) -> dict[str, int]:
    """Produce ``records`` (acks=all); embedded broker: also sink them, then refresh views.

    Returns the rows the sink wrote per topic (empty with a configured broker).
    """
    async with RecordProducer(broker.bootstrap, client_id="gridstream-signals-import") as out:
        await out.publish(records)
        if not broker.embedded:
            return {}
        written = await sink_until_written(broker, settings, out, now)
    refresh_views(settings.data_dir)
    return written


async def sink_until_written(
    broker: BrokerInfo,
    settings: Settings,
    producer: RecordProducer,
    now: Callable[[], datetime],
    kept: Sequence[topics.Topic] = (topics.GRID_SIGNALS, topics.DLQ),
) -> dict[str, int]:
    """Run a warehouse sink on the ``kept`` topics until it wrote all ``producer`` sent.

    Returns the rows written per topic; ``BrokerError`` after ``SINK_TIMEOUT_S``.
    """
    sink = ParquetSink(settings.data_dir, broker.epoch)
    consumer = make_sink_consumer(
        broker.bootstrap,
        "gridstream-warehouse",
        [topic.name for topic in kept],
        sink,
        client_id="gridstream-signals-import-sink",
    )
    await consumer.start()
    stop = asyncio.Event()

    async def dead_letter(letter: DeadLetter) -> None:
        await producer.publish([letter])

    task = asyncio.create_task(
        run_sink(consumer, sink, settings.sink_flush_interval_s, stop,
                 dead_letter=dead_letter, now=now),
        name="signals-import-sink",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + SINK_TIMEOUT_S

        def written() -> bool:
            # flushed_offsets is the next offset to write; acked the last one produced.
            done = sink.flushed_offsets()
            return all(done.get(tp, 0) > offset for tp, offset in producer.acked.items())

        while not written():
            if task.done():
                await task  # the sink failed: its error, not a timeout
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"signals import: the warehouse sink did not write everything within "
                    f"{SINK_TIMEOUT_S:.0f} s (written {sink.flushed_offsets()}, produced up to "
                    f"{producer.acked})"
                )
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
    return dict(sink.stats().rows_written)
