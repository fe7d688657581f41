"""The embedded broker: starts on a free loopback port, has every topic, leaves no orphan."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from kafka import KafkaAdminClient

from gridstream import topics
from gridstream.broker import EmbeddedBroker, broker_session, wait_until_ready
from gridstream.errors import BrokerError

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_session_creates_every_catalog_topic_with_its_partitions() -> None:
    with broker_session(None) as broker:
        assert broker.embedded and broker.bootstrap.startswith("127.0.0.1:")
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            described = {t["name"]: t for t in admin.describe_topics()}
            for topic in topics.ALL:
                assert len(described[topic.name]["partitions"]) == topic.partitions
        finally:
            admin.close()


def test_each_embedded_broker_has_its_own_epoch() -> None:
    with EmbeddedBroker() as first, EmbeddedBroker() as second:
        assert first.cluster_id != second.cluster_id
        assert first.port != second.port


def test_broker_is_stopped_when_the_block_raises() -> None:
    broker = EmbeddedBroker()
    with pytest.raises(RuntimeError, match="boom"), broker:
        pid = broker.pid
        assert pid is not None and _alive(pid)
        raise RuntimeError("boom")
    assert not _alive(pid)


def test_unreachable_configured_broker_is_a_clear_error() -> None:
    from gridstream.broker import free_port

    with (
        pytest.raises(BrokerError, match="did not answer"),
        broker_session(f"127.0.0.1:{free_port()}", ready_timeout_s=1.0) as _,
    ):
        pass


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_no_orphan_broker_when_the_owner_is_interrupted_or_killed(how: signal.Signals) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from gridstream.broker import EmbeddedBroker
        with EmbeddedBroker() as b:
            print(b.pid, flush=True)
            time.sleep(60)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    broker_pid = int(owner.stdout.readline())
    assert _alive(broker_pid)
    owner.send_signal(how)
    owner.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(broker_pid)


def test_a_broker_that_exits_at_start_is_reported_with_the_end_of_its_log(tmp_path) -> None:
    # The broker's log goes to a file, never a pipe nobody reads (a full pipe blocks it).
    with open(tmp_path / "broker.log", "w+b") as log_file:
        proc = subprocess.Popen(
            ["sh", "-c", "echo 'error: address in use' >&2; exit 3"], stderr=log_file
        )
        proc.wait(timeout=10)
        with pytest.raises(BrokerError, match="exited with 3: error: address in use"):
            wait_until_ready("127.0.0.1:1", 10.0, proc, log_file)


def test_an_existing_topic_unlike_the_catalog_is_reported_and_left_as_it_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kafka.admin import NewTopic

    from gridstream.broker import TopicDifference, ensure_topics

    with EmbeddedBroker() as broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            # Created by hand before gridstream: 2 partitions (catalog 4), one day of
            # retention (catalog 7 days = 604,800,000 ms), no min.insync.replicas.
            admin.create_topics(
                [NewTopic("meter.samples", 2, 1, topic_configs={"retention.ms": "86400000"})]
            )
        finally:
            admin.close()
        with caplog.at_level("WARNING", logger="gridstream.broker"):
            setup = ensure_topics(broker.bootstrap)
        assert "meter.samples" not in setup.created
        assert set(setup.created) == {t.name for t in (*topics.ALL, *topics.INTERNAL)} - {
            "meter.samples"
        }
        expected = [
            TopicDifference("meter.samples", "partitions", "4", "2"),
            TopicDifference("meter.samples", "cleanup.policy", "delete", None),
            TopicDifference("meter.samples", "retention.ms", "604800000", "86400000"),
            TopicDifference("meter.samples", "retention.bytes", "-1", None),
            TopicDifference("meter.samples", "min.insync.replicas", "1", None),
        ]
        assert setup.differences == expected
        # (INFO records too when another test's gridstream.cli.main set the root level)
        [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warning.startswith("topic meter.samples differs from the catalog")
        assert "partitions: catalog 4, cluster 2" in warning
        assert "retention.ms: catalog 604800000, cluster 86400000" in warning
        # The topics it created describe as the catalog says; the one made by hand does not.
        again = ensure_topics(broker.bootstrap)
        assert (again.created, again.differences) == ([], expected)
