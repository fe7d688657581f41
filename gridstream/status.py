"""``gridstream status``: is the pipeline healthy? For people, and for a container health check.

It reads what it can reach, each part on its own, so that one thing down does not hide the
others:

- the broker (``GRIDSTREAM_KAFKA_BOOTSTRAP``): reachable, its cluster id, the catalog's
  topics present with their partitions;
- every consumer group's lag per topic: the group's committed offsets against the end
  offsets the broker reports (ListOffsets), and, where a part's ``/metrics`` is given,
  the lag that part sampled itself, whichever is larger: the embedded broker reports the
  start of a partition's last record batch + 1 as its end, so the first can fall short
  (README, Monitoring);
- the warehouse sink's last write: the newest Parquet file under the data dir (each flush
  renames its files into place just before the sink commits), each topic table's newest
  Delta commit (version and time: what readers see), and the
  ``gridstream_sink_last_commit_timestamp_seconds`` of a scraped sink (its Kafka commit);
- spool depth and stations online, from a connector's ``/metrics``; the spool's size on
  disk from ``GRIDSTREAM_SPOOL_DIR`` (or the data dir's ``spool``) when the connector
  shares this host.

Exit codes: 0 healthy, 1 unhealthy (each reason listed under ``problems``), 2 the broker
cannot be reached (or none is configured).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from prometheus_client.parser import text_string_to_metric_families

from gridstream import topics
from gridstream.broker import SINK_GROUP, accepts_connections
from gridstream.settings import Settings

if TYPE_CHECKING:
    from warehouse.table import Commit

HEALTHY: Final = 0
UNHEALTHY: Final = 1
UNREACHABLE: Final = 2

#: Groups gridstream runs whose lag matters (others, a test's or a tool's, are listed too).
GROUP_PREFIX: Final = "gridstream"


@dataclass(frozen=True)
class Limits:
    """What counts as unhealthy (the command line's options)."""

    #: Records a consumer group may be behind, summed over a topic's partitions.
    max_lag: int = 10_000
    #: Seconds since the sink's last write beyond which a sink with lag is stuck.
    max_commit_age_s: float = 300.0
    #: Entries a connector's spool may hold (not yet durable elsewhere).
    max_spool_entries: int = 100_000


@dataclass
class TopicLag:
    """One consumer group's lag on one topic."""

    group: str
    topic: str
    lag: int
    partitions: dict[int, int]
    #: ``broker``: committed vs the broker's end offsets; ``metrics``: a part's own sample
    #: was larger (the embedded broker under-reports ends).
    source: str = "broker"


@dataclass
class Scrape:
    """What one ``/metrics`` endpoint said (or why it could not be read)."""

    url: str
    ok: bool
    error: str | None = None
    stations_online: int | None = None
    spool_entries: int | None = None
    sink_last_commit: datetime | None = None
    lag: dict[tuple[str, str, int], int] = field(default_factory=dict)


@dataclass
class Status:
    """Everything ``gridstream status`` found, and whether it is healthy."""

    bootstrap: str | None
    reachable: bool = False
    cluster_id: str | None = None
    broker_error: str | None = None
    topics: dict[str, int] = field(default_factory=dict)
    missing_topics: list[str] = field(default_factory=list)
    lag: list[TopicLag] = field(default_factory=list)
    sink_last_write: datetime | None = None
    sink_last_commit: datetime | None = None
    #: Per topic, its table's newest Delta commit under the data dir.
    tables: dict[str, Commit] = field(default_factory=dict)
    spool_entries: int | None = None
    spool_bytes_on_disk: int | None = None
    stations_online: int | None = None
    scrapes: list[Scrape] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 unhealthy, 2 the broker is unreachable or not configured."""
        if not self.reachable:
            return UNREACHABLE
        return UNHEALTHY if self.problems else HEALTHY

    def to_json(self) -> str:
        """The status as JSON (``--json``), with ``healthy`` and ``exit_code``."""

        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {_key(k): plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        body = plain(asdict(self))
        body["exit_code"] = self.exit_code
        body["healthy"] = self.exit_code == HEALTHY
        return json.dumps(body, indent=2, sort_keys=True)


def _key(key: object) -> str:
    return "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


# -- reading the broker ------------------------------------------------------------------


def read_broker(status: Status, timeout_s: float) -> None:
    """Fill in the broker's part of ``status``: cluster, topics, every group's lag."""
    from kafka import KafkaAdminClient
    from kafka.admin import OffsetSpec

    bootstrap = status.bootstrap
    if bootstrap is None:
        status.broker_error = "GRIDSTREAM_KAFKA_BOOTSTRAP is not set (the broker to ask)"
        return
    # kafka-python would spend its own long timeouts on a closed port.
    if not accepts_connections(bootstrap):
        status.broker_error = f"nothing accepts connections at {bootstrap}"
        return
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="gridstream-status",
            request_timeout_ms=int(timeout_s * 1000),
        )
    except Exception as exc:  # noqa: BLE001 - any failure: unreachable, and why
        status.broker_error = f"{bootstrap}: {exc}"
        return
    try:
        status.cluster_id = str(admin.describe_cluster()["cluster_id"])
        status.reachable = True
        described = admin.describe_topics()
        status.topics = {t["name"]: len(t["partitions"]) for t in described if not t["error_code"]}
        status.missing_topics = [t.name for t in topics.ALL if t.name not in status.topics]
        groups = sorted(g["group_id"] for g in admin.list_groups())
        committed = admin.list_group_offsets({g: None for g in groups}) if groups else {}
        wanted = {tp for offsets in committed.values() for tp in offsets}
        ends = (
            admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in wanted}) if wanted else {}
        )
        status.lag = group_lag(
            {
                group: {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
                for group, offsets in committed.items()
            },
            {(tp.topic, tp.partition): end.offset for tp, end in ends.items()},
        )
    except Exception as exc:  # noqa: BLE001 - report what was read, and what failed
        status.broker_error = f"{bootstrap}: {type(exc).__name__}: {exc}"
    finally:
        admin.close()


def group_lag(
    committed: Mapping[str, Mapping[tuple[str, int], int]],
    ends: Mapping[tuple[str, int], int],
) -> list[TopicLag]:
    """Lag per group and topic: end - committed per partition (never below 0), summed.

    A partition without a committed offset (-1) or a known end is left out.

    >>> [(t.group, t.topic, t.lag, t.partitions) for t in group_lag(
    ...     {"g": {("a", 0): 5, ("a", 1): 7, ("b", 0): -1}}, {("a", 0): 9, ("a", 1): 3})]
    [('g', 'a', 4, {0: 4, 1: 0})]
    """
    out: dict[tuple[str, str], TopicLag] = {}
    for group, offsets in sorted(committed.items()):
        for (topic, partition), offset in sorted(offsets.items()):
            end = ends.get((topic, partition))
            if offset < 0 or end is None:
                continue
            entry = out.setdefault((group, topic), TopicLag(group, topic, 0, {}))
            entry.partitions[partition] = max(0, end - offset)
            entry.lag = sum(entry.partitions.values())
    return list(out.values())


def merge_sampled_lag(
    lags: list[TopicLag], sampled: Mapping[tuple[str, str, int], int]
) -> list[TopicLag]:
    """``lags`` with each partition raised to what a part sampled itself, where larger.

    A partition the group has committed nothing for is taken from the sample. ``source``
    says ``metrics`` where a sample showed more lag than the broker's figures.

    >>> [(t.topic, t.lag, t.source) for t in merge_sampled_lag(
    ...     [TopicLag("g", "a", 0, {0: 0}), TopicLag("g", "c", 3, {0: 3})],
    ...     {("g", "a", 0): 9, ("g", "c", 0): 1, ("g", "c", 1): 0, ("h", "b", 1): 2})]
    [('a', 9, 'metrics'), ('c', 3, 'broker'), ('b', 2, 'metrics')]
    """
    by_key = {(t.group, t.topic): t for t in lags}
    for (group, topic, partition), value in sorted(sampled.items()):
        entry = by_key.get((group, topic))
        if entry is None:
            entry = by_key[(group, topic)] = TopicLag(group, topic, 0, {}, "metrics")
        broker_side = entry.partitions.get(partition)
        if broker_side is None or value > broker_side:
            entry.partitions[partition] = value
        if value > (broker_side or 0):  # the part saw more than the broker says
            entry.source = "metrics"
        entry.lag = sum(entry.partitions.values())
    return list(by_key.values())


# -- reading the parts' metrics and files --------------------------------------------------


def scrape(url: str, timeout_s: float) -> Scrape:
    """Read one ``/metrics`` endpoint: stations, spool, sink commit, sampled lag."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - operator-given URL
            text = answer.read().decode("utf-8")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Scrape(url, ok=False, error=str(exc))
    return parse_scrape(url, text)


def parse_scrape(url: str, text: str) -> Scrape:
    """What ``status`` needs from a Prometheus text exposition of gridstream's metrics."""
    result = Scrape(url, ok=True)
    spool: list[float] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gridstream_stations_connected":
                result.stations_online = int(sample.value)
            elif sample.name == "gridstream_spool_entries":
                spool.append(sample.value)
            elif sample.name == "gridstream_sink_last_commit_timestamp_seconds":
                if sample.value > 0:  # 0: no commit yet in this process
                    result.sink_last_commit = datetime.fromtimestamp(sample.value, UTC)
            elif sample.name == "gridstream_consumer_lag":
                labels = sample.labels
                key = (labels["group"], labels["topic"], int(labels["partition"]))
                result.lag[key] = int(sample.value)
    if spool:
        result.spool_entries = int(sum(spool))
    return result


def table_commits(data_dir: Path) -> dict[str, Commit]:
    """Each topic table's newest Delta commit under ``data_dir`` (topics with a table)."""
    from warehouse.layout import topic_dir
    from warehouse.table import last_commit

    found = {t.name: last_commit(topic_dir(data_dir, t.name)) for t in topics.ALL}
    return {name: commit for name, commit in found.items() if commit is not None}


def newest_parquet(data_dir: Path) -> datetime | None:
    """Modification time of the newest Parquet file the sink wrote under ``data_dir``."""
    from warehouse.layout import parquet_root

    newest = max(
        (p.stat().st_mtime for p in parquet_root(data_dir).glob("*/date=*/*.parquet")),
        default=None,
    )
    return None if newest is None else datetime.fromtimestamp(newest, UTC)


def spool_bytes(directory: Path) -> int | None:
    """Bytes in the spool's segment files (entries not yet released and some released)."""
    from connectors.spool.segments import SEGMENT_SUFFIX

    if not directory.is_dir():
        return None
    return sum(p.stat().st_size for p in directory.glob(f"*{SEGMENT_SUFFIX}"))


# -- putting it together -------------------------------------------------------------------


def metrics_urls(settings: Settings, given: Sequence[str]) -> list[str]:
    """The ``/metrics`` URLs to read: ``given``, else this host's GRIDSTREAM_METRICS_PORT."""
    if given:
        return list(given)
    if settings.metrics_port:
        return [f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"]
    return []


def collect(
    settings: Settings,
    *,
    metrics: Sequence[str] = (),
    limits: Limits = Limits(),
    timeout_s: float = 5.0,
    now: datetime | None = None,
) -> Status:
    """Read the broker, the parts' ``/metrics`` and the local files; judge them."""
    status = Status(bootstrap=settings.kafka_bootstrap)
    read_broker(status, timeout_s)
    status.scrapes = [scrape(url, timeout_s) for url in metrics_urls(settings, metrics)]
    sampled: dict[tuple[str, str, int], int] = {}
    for s in status.scrapes:
        sampled.update(s.lag)
        status.stations_online = _first(status.stations_online, s.stations_online)
        status.spool_entries = _first(status.spool_entries, s.spool_entries)
        status.sink_last_commit = _first(status.sink_last_commit, s.sink_last_commit)
    status.lag = merge_sampled_lag(status.lag, sampled)
    status.sink_last_write = newest_parquet(settings.data_dir)
    status.tables = table_commits(settings.data_dir)
    status.spool_bytes_on_disk = spool_bytes(settings.spool_dir or settings.data_dir / "spool")
    status.problems = judge(status, limits, now or datetime.now(UTC))
    return status


def _first(current: Any, found: Any) -> Any:
    return current if current is not None else found


def judge(status: Status, limits: Limits, now: datetime) -> list[str]:
    """Why ``status`` is unhealthy (empty: healthy)."""
    problems: list[str] = []
    if status.broker_error is not None:
        problems.append(f"broker: {status.broker_error}")
    if status.reachable and status.missing_topics:
        problems.append(f"topics missing: {', '.join(status.missing_topics)}")
    for t in status.lag:
        if t.group.startswith(GROUP_PREFIX) and t.lag > limits.max_lag:
            problems.append(f"group {t.group} is {t.lag} records behind on {t.topic}")
    sink_behind = sum(t.lag for t in status.lag if t.group == SINK_GROUP)
    evidence = [status.sink_last_write, status.sink_last_commit]
    evidence += [c.at for c in status.tables.values()]
    written = max((w for w in evidence if w is not None), default=None)
    if sink_behind > 0 and written is not None:
        age_s = (now - written).total_seconds()
        if age_s > limits.max_commit_age_s:
            problems.append(
                f"the warehouse sink is {sink_behind} records behind and last wrote "
                f"{age_s:.0f} s ago"
            )
    if status.spool_entries is not None and status.spool_entries > limits.max_spool_entries:
        problems.append(f"spool holds {status.spool_entries} entries not yet durable")
    for s in status.scrapes:
        if not s.ok:
            problems.append(f"metrics at {s.url} unreadable: {s.error}")
    return problems


def format_status(status: Status, now: datetime | None = None) -> str:
    """The readable report: one line per part, the lag table, then the problems."""
    now = now or datetime.now(UTC)
    verdict = {HEALTHY: "healthy", UNHEALTHY: "UNHEALTHY", UNREACHABLE: "UNREACHABLE"}
    lines = [f"gridstream status: {verdict[status.exit_code]} (exit {status.exit_code})"]
    if status.reachable:
        present = len(topics.ALL) - len(status.missing_topics)
        lines.append(f"broker    {status.bootstrap}: reachable, cluster {status.cluster_id}")
        lines.append(f"topics    {present} of {len(topics.ALL)} catalog topics present")
    else:
        lines.append(f"broker    unreachable: {status.broker_error}")
    lines.append(f"sink      last write {_ago(status.sink_last_write, now)}; "
                 f"last commit {_ago(status.sink_last_commit, now)}")  # fmt: skip
    if status.tables:
        topic, newest = max(status.tables.items(), key=lambda item: item[1].at)
        lines.append(f"tables    {len(status.tables)} Delta tables; newest commit "
                     f"{_ago(newest.at, now)}, {topic} version {newest.version}")  # fmt: skip
    else:
        lines.append("tables    none under the data dir")
    spool = "unknown (no connector metrics)" if status.spool_entries is None else (
        f"{status.spool_entries} entries not yet durable"
    )  # fmt: skip
    if status.spool_bytes_on_disk is not None:
        spool += f"; {status.spool_bytes_on_disk} bytes of segments on disk"
    lines.append(f"spool     {spool}")
    stations = status.stations_online
    lines.append(
        "stations  "
        + ("unknown (no connector metrics)" if stations is None else f"{stations} online")
    )
    if status.lag:
        lines.append("")
        lines.extend(_table(
            ["group", "topic", "partitions", "lag", "from"],
            [[t.group, t.topic, str(len(t.partitions)), str(t.lag), t.source]
             for t in sorted(status.lag, key=lambda t: (t.group, t.topic))],
        ))  # fmt: skip
    if status.problems:
        lines.append("")
        lines.append("problems:")
        lines.extend(f"  - {p}" for p in status.problems)
    return "\n".join(lines)


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never (or not known here)"
    return f"{when.isoformat(timespec='seconds')} ({(now - when).total_seconds():.0f} s ago)"


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    body = [header, *rows]
    widths = [max(len(r[i]) for r in body) for i in range(len(header))]
    rule = ["-" * w for w in widths]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in (header, rule, *body[1:])]  # fmt: skip
