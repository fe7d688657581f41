"""Every Prometheus metric gridstream exports, defined once (names prefixed ``gridstream_``).

The thin shells count at the edges (a frame answered, a record acknowledged, a file
written, a batch processed); the computations never see a metric. Each process has its own
``REGISTRY`` and serves it on ``/metrics`` of ``GRIDSTREAM_METRICS_HOST:PORT``
(``gridstream.parts.start_metrics``); the metrics of a part that does not run in that
process simply stay at zero or absent.

Labels take only values from a fixed set: a station or partner chooses the action names
and versions it sends, and a label per invented value would let it grow the registry
without bound (``bounded``).

=============================================  ==========================================
metric                                         what
=============================================  ==========================================
``gridstream_messages_in_total``               messages in, by protocol and action
``gridstream_answer_seconds``                  time from a message read to its answer sent
``gridstream_records_produced_total``          records the broker acknowledged, by topic
``gridstream_dead_letters_total``              dead letters kept for the dlq, by source
                                               and reason
``gridstream_consumer_lag``                    records behind the end, per group and
                                               partition (sampled)
``gridstream_spool_entries``                   entries a spool holds, not yet durable
``gridstream_stations_connected``              open OCPP station connections
``gridstream_sink_rows_total``                 rows the warehouse sink wrote, by topic
``gridstream_sink_files_total``                Parquet files it wrote, by topic
``gridstream_sink_last_commit_timestamp_seconds``  when it last committed offsets
``gridstream_worker_batch_seconds``            time a worker took for one batch
``gridstream_worker_batch_records``            records in one worker batch
=============================================  ==========================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_asgi_app,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from gridstream.errors import REASONS
from gridstream.records import DeadLetter, Record

log = logging.getLogger(__name__)

#: gridstream's own registry (not prometheus_client's global one, which third-party
#: libraries may register into): exactly what /metrics serves.
REGISTRY: Final = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

#: Label value for anything outside a label's fixed set.
OTHER: Final = "other"

#: Answers are sub-millisecond when the spool is warm and seconds when a disk stalls or
#: the broker is awaited; buckets from 0.5 ms to 10 s cover both.
ANSWER_BUCKETS_S: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
#: A batch is bounded by GRIDSTREAM_WORKER_BATCH_WITHIN_S plus its work: ms to seconds.
BATCH_BUCKETS_S: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS: Final = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

MESSAGES_IN: Final = Counter(
    "gridstream_messages_in",
    "Messages received from stations (OCPP, per subprotocol) and partners (OCPI), by action.",
    ["protocol", "action"],
    registry=REGISTRY,
)
ANSWER_SECONDS: Final = Histogram(
    "gridstream_answer_seconds",
    "Seconds from reading a message to having sent its answer (records kept first).",
    ["protocol", "action"],
    buckets=ANSWER_BUCKETS_S,
    registry=REGISTRY,
)
RECORDS_PRODUCED: Final = Counter(
    "gridstream_records_produced",
    "Records the broker acknowledged, by topic (a re-send after a failure counts again).",
    ["topic"],
    registry=REGISTRY,
)
DEAD_LETTERS: Final = Counter(
    "gridstream_dead_letters",
    "Dead letters kept for the dlq topic, by source family and reason code.",
    ["source", "reason"],
    registry=REGISTRY,
)
CONSUMER_LAG: Final = Gauge(
    "gridstream_consumer_lag",
    "Records between a consumer's position and the partition's end as the broker reports "
    "it (sampled every few seconds; the embedded broker can report the end short: "
    "README, Monitoring).",
    ["group", "topic", "partition"],
    registry=REGISTRY,
)
SPOOL_ENTRIES: Final = Gauge(
    "gridstream_spool_entries",
    "Entries a connector's spool holds that are not yet durable elsewhere.",
    ["spool"],
    registry=REGISTRY,
)
STATIONS_CONNECTED: Final = Gauge(
    "gridstream_stations_connected",
    "Open OCPP station connections.",
    registry=REGISTRY,
)
SINK_ROWS: Final = Counter(
    "gridstream_sink_rows",
    "Rows the warehouse sink wrote to Parquet, by topic.",
    ["topic"],
    registry=REGISTRY,
)
SINK_FILES: Final = Counter(
    "gridstream_sink_files",
    "Parquet files the warehouse sink wrote, by topic.",
    ["topic"],
    registry=REGISTRY,
)
SINK_LAST_COMMIT: Final = Gauge(
    "gridstream_sink_last_commit_timestamp_seconds",
    "Unix time of the warehouse sink's last offset commit (after its files were written).",
    registry=REGISTRY,
)
WORKER_BATCH_SECONDS: Final = Histogram(
    "gridstream_worker_batch_seconds",
    "Seconds a worker agent took to process one batch (compute, publish, checkpoint).",
    ["agent"],
    buckets=BATCH_BUCKETS_S,
    registry=REGISTRY,
)
WORKER_BATCH_RECORDS: Final = Histogram(
    "gridstream_worker_batch_records",
    "Input records in one worker batch.",
    ["agent"],
    buckets=BATCH_SIZE_BUCKETS,
    registry=REGISTRY,
)


def bounded(value: str, allowed: Collection[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``OTHER``: a label set that cannot grow.

    >>> bounded("MeterValues", {"MeterValues"}), bounded("Invented", {"MeterValues"})
    ('MeterValues', 'other')
    """
    return value if value in allowed else OTHER


#: Source families of dead letters (``DeadLetter.source`` is e.g. ``ocpp1.6``,
#: ``ocpi2.2.1``, ``warehouse:meter.samples``, ``entsoe/sequence=2``): the part or grid
#: feed, not its detail.
SOURCE_FAMILIES: Final = (
    "ocpp", "ocpi", "warehouse", "worker", "entsoe", "elia", "tennet", "openadr", "p1", "http",
    "csv",
)  # fmt: skip


def dead_letter_source(source: str) -> str:
    """The family of a dead letter's ``source`` (its first word), or ``OTHER``.

    >>> dead_letter_source("ocpp2.0.1"), dead_letter_source("warehouse:dlq")
    ('ocpp', 'warehouse')
    >>> dead_letter_source("ocpi<script>")
    'ocpi'
    """
    for family in SOURCE_FAMILIES:
        if source.startswith(family):
            return family
    return OTHER


def count_dead_letters(records: Iterable[Record]) -> None:
    """Count the dead letters among ``records`` (called where records are kept for Kafka)."""
    for record in records:
        if isinstance(record, DeadLetter):
            DEAD_LETTERS.labels(
                dead_letter_source(record.source), bounded(record.reason, REASONS)
            ).inc()


def count_produced(topics: Iterable[str]) -> None:
    """Count one acknowledged record per item of ``topics`` (a topic name per record)."""
    counts: dict[str, int] = {}
    for topic in topics:
        counts[topic] = counts.get(topic, 0) + 1
    for topic, n in counts.items():
        RECORDS_PRODUCED.labels(topic).inc(n)


def lag(highwater: int | None, position: int | None) -> int | None:
    """Records between ``position`` (next offset to read) and ``highwater`` (the end).

    None when either is not known yet. Never negative: the embedded broker can report an
    end short of the truth (DESIGN.md, its gaps), so a consumer may be past it.

    >>> lag(120, 100), lag(100, 120), lag(None, 5)
    (20, 0, None)
    """
    if highwater is None or position is None:
        return None
    return max(0, highwater - position)


class LagSource(Protocol):
    """A consumer whose lag can be sampled: aiokafka's and Faust's both have these."""

    def assignment(self) -> Collection[Any]:
        """The partitions assigned (objects with ``topic`` and ``partition``)."""
        ...

    def highwater(self, tp: Any) -> int | None:
        """The partition's end offset as of the last fetch, or None."""
        ...

    async def position(self, tp: Any) -> int | None:
        """The next offset the consumer will fetch."""
        ...


async def sample_lag(group: str, consumer: LagSource) -> dict[tuple[str, int], int]:
    """Set ``gridstream_consumer_lag`` for every partition assigned to ``consumer``.

    Partitions no longer assigned are removed from the gauge (another member reports
    them). Returns the lag set, per (topic, partition).
    """
    seen: dict[tuple[str, int], int] = {}
    for tp in list(consumer.assignment()):
        behind = lag(consumer.highwater(tp), await consumer.position(tp))
        if behind is not None:
            seen[(tp.topic, tp.partition)] = behind
            CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(behind)
    for labels in _lag_labels(group):
        if (labels[1], int(labels[2])) not in seen:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(*labels)
    return seen


def _lag_labels(group: str) -> list[tuple[str, str, str]]:
    return [
        (s.labels["group"], s.labels["topic"], s.labels["partition"])
        for family in CONSUMER_LAG.collect()
        for s in family.samples
        if s.labels.get("group") == group
    ]


async def follow_lag(
    group: str, consumer: LagSource, stop: asyncio.Event, interval_s: float = 5.0
) -> None:
    """Sample ``consumer``'s lag every ``interval_s`` until ``stop`` is set.

    A failed sample (a rebalance under way, a stopping consumer) is skipped, not fatal:
    monitoring must not take a part down.
    """
    while not stop.is_set():
        try:
            await sample_lag(group, consumer)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.debug("consumer lag of %s not sampled: %s", group, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


def watch(gauge: Gauge, read: Callable[[], float], labels: Sequence[str] = ()) -> None:
    """Make ``gauge`` (with ``labels``) read ``read()`` at every scrape (a live count)."""
    (gauge.labels(*labels) if labels else gauge).set_function(read)


def asgi_app() -> Any:
    """The ASGI app that serves ``REGISTRY`` in the Prometheus text format."""
    return make_asgi_app(registry=REGISTRY)


def sample_values(name: str, labels: Mapping[str, str] | None = None) -> float | None:
    """The value of sample ``name`` with ``labels`` in ``REGISTRY`` (tests, summaries)."""
    return REGISTRY.get_sample_value(name, dict(labels or {}))
