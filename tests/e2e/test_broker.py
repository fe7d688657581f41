"""The embedded broker: starts on a free loopback port, has every topic, leaves no orphan."""

from __future__ import annotations

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
