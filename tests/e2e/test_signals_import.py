"""`gridstream signals import`: ENTSO-E documents through Kafka to grid.signals and the view."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from gridstream import topics
from gridstream.broker import BrokerInfo, broker_session
from gridstream.records import GridSignal
from gridstream.settings import Settings
from gridstream.signals_import import import_signals

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
ENTSOE = ROOT / "tests" / "fixtures" / "grid" / "entsoe"
GRIDSTREAM = [sys.executable, "-m", "gridstream.cli"]
RECEIVED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def broker() -> Iterator[BrokerInfo]:
    with broker_session(None) as info:
        yield info


async def read_topic(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of ``topic`` from the start, once ``expected`` have arrived."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(topics.by_name(topic).partitions)]
        consumer.assign(partitions)
        out: list[tuple[bytes, bytes]] = []
        while len(out) < expected:  # getmany waits for records; the test timeout bounds it
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                out.extend((m.key, m.value) for m in messages)
        return out
    finally:
        await consumer.stop()


async def test_an_entsoe_document_reaches_grid_signals_keyed_by_its_zone(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    settings = Settings(kafka_bootstrap=broker.bootstrap, data_dir=tmp_path / "data")
    result = await import_signals(
        settings, [ENTSOE / "A44_BE_2024-10-08_PT60M.xml"], now=lambda: RECEIVED
    )
    assert (result.signals, dict(result.rejected)) == (24, {})
    assert result.rows_written == {}  # a configured broker: the running pipeline's sink writes

    messages = await read_topic(broker.bootstrap, topics.GRID_SIGNALS.name, 24)
    assert {key for key, _ in messages} == {b"10YBE----------2"}
    signals = sorted((GridSignal.from_json(v) for _, v in messages), key=lambda s: s.interval_start)
    assert (signals[0].interval_start, signals[0].value) == (
        datetime(2024, 10, 7, 22, tzinfo=UTC), 64.98)  # fmt: skip
    assert (signals[-1].interval_end, signals[-1].value) == (
        datetime(2024, 10, 8, 22, tzinfo=UTC), 50.0)  # fmt: skip
    assert {s.received_at for s in signals} == {RECEIVED}


def test_the_command_imports_into_the_warehouse_and_query_shows_the_latest_revision(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDSTREAM_")}
    env["GRIDSTREAM_DATA_DIR"] = str(tmp_path / "data")
    files = tmp_path / "in"
    files.mkdir()
    for name in ("A44_FI_2025-10-12_PT15M_A03-gaps.xml", "acknowledgement_no_matching_data.xml"):
        shutil.copy(ENTSOE / name, files / name)
    # The same FI document republished as revision 2 with one price changed.
    original = (ENTSOE / "A44_FI_2025-10-12_PT15M_A03-gaps.xml").read_text()
    revised = original.replace("<revisionNumber>1</revisionNumber>",
                               "<revisionNumber>2</revisionNumber>", 1)  # fmt: skip
    revised = revised.replace("<price.amount>76.69</price.amount>",
                              "<price.amount>80.01</price.amount>", 1)  # fmt: skip
    (files / "fi_revision_2.constructed.xml").write_text(revised)

    run = subprocess.run(
        [*GRIDSTREAM, "signals", "import", *sorted(str(p) for p in files.iterdir())],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr[-3000:]  # 1: something went to the dead letters
    assert "384 signals from 3 file(s) (entsoe 3)" in run.stdout  # 2 x 192 quarter-hours
    assert "rejected to dlq: no_data 1" in run.stdout

    query = subprocess.run(
        [*GRIDSTREAM, "query", "--format", "json",
         "SELECT count(*) AS n, max(revision) AS rev, "
         "max(value) FILTER (WHERE interval_start = '2025-10-13T21:45:00Z') AS last "
         "FROM grid_signals"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert query.returncode == 0, query.stderr
    # 192 quarter-hours once each, revision 2 won: the last one is 80.01, not 76.69
    assert json.loads(query.stdout) == [{"n": 192, "rev": 2, "last": 80.01}]
    history = subprocess.run(
        [*GRIDSTREAM, "query", "--format", "csv",
         "SELECT count(*) AS n FROM grid_signals_history"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert history.stdout.split() == ["n", "384"]  # both revisions of every quarter-hour
