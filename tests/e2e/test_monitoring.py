"""End to end: /metrics over real HTTP from real processes, and `gridstream status`.

`gridstream broker`, `connector` and `sink` run as processes of their own (the fixtures of
test_separate_processes), each serving its metrics on a port of its own. A real `ocpp`
2.0.1 charge point sends MeterValues: the connector's message counter for that action
must go up by exactly the number sent. `gridstream status` must then say healthy (exit 0)
with what the connector and the sink report, and, once the broker is stopped, exit 2.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.typing import Subprotocol

from gridstream import topics
from gridstream.periods import quarter_hour_start
from tests.e2e.test_separate_processes import GRIDSTREAM, Part, _env, send_meter_values, started

pytestmark = pytest.mark.e2e

METRICS_LINE = re.compile(r"metrics on (http://127\.0\.0\.1:\d+/metrics)")


def metrics_url(part: Part, timeout_s: float = 60.0) -> str:
    """The URL a part logged for its metrics (it serves them before it says it is ready)."""
    deadline = time.monotonic() + timeout_s
    while (found := METRICS_LINE.search(part.stderr.read_text())) is None:
        assert part.proc.poll() is None, part.log()
        assert time.monotonic() < deadline, part.log()
        time.sleep(0.05)
    return found.group(1)


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_until(what: str, predicate: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def status(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [*GRIDSTREAM, "status", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout)


async def test_metrics_count_each_message_and_status_reports_health(tmp_path: Path) -> None:
    with started("broker", tmp_path, _env()) as broker:
        bootstrap = broker.next_line().partition("=")[2]
        common = {
            "kafka_bootstrap": bootstrap,
            "topic_replication_factor": "1",
            "topic_min_insync_replicas": "1",
            "sink_flush_interval_s": "0.5",
            "metrics_port": "0",
        }
        connector_env = _env(
            **common, data_dir=str(tmp_path / "connector"), ocpp_port="0", ocpi_port="0"
        )
        sink_env = _env(**common, data_dir=str(tmp_path / "sink"))
        worker_env = _env(**common, data_dir=str(tmp_path / "worker"))
        with (
            started("connector", tmp_path, connector_env) as connector,
            started("sink", tmp_path, sink_env) as sink,
            started("worker", tmp_path, worker_env) as worker,
        ):
            ready = connector.next_line()
            url = ready.split(" on ")[1].removesuffix("/{station_id}")
            assert sink.next_line().startswith("gridstream sink:")
            assert worker.next_line().startswith("gridstream worker:")
            connector_metrics, sink_metrics = metrics_url(connector), metrics_url(sink)
            worker_metrics = metrics_url(worker)

            # A station connected is a station online, until it disconnects.
            async with websockets.connect(
                f"{url}/CP-IDLE", subprotocols=[Subprotocol("ocpp2.0.1")]
            ):
                online = sample(scrape(connector_metrics), "gridstream_stations_connected")
            assert online == 1

            labels = {"protocol": "ocpp2.0.1", "action": "MeterValues"}
            before = scrape(connector_metrics)
            t0 = quarter_hour_start(datetime.now(UTC)) - timedelta(hours=2)
            sent = await send_meter_values(url, "CP-METRICS", t0)
            after = scrape(connector_metrics)

            # Exactly the frames sent: each counted once, each answer timed once.
            assert sent == 7
            assert (
                sample(after, "gridstream_messages_in_total", **labels)
                - sample(before, "gridstream_messages_in_total", **labels)
                == sent
            )
            assert (
                sample(after, "gridstream_answer_seconds_count", **labels)
                - sample(before, "gridstream_answer_seconds_count", **labels)
                == sent
            )
            # No other action was counted for this station's frames.
            assert (
                sample(after, "gridstream_messages_in_total", protocol="ocpp2.0.1", action="other")
                == 0
            )

            # The forwarder takes the spool on to the broker, the sink writes and commits.
            wait_until(
                "meter.samples acknowledged by the broker",
                lambda: (
                    sample(
                        scrape(connector_metrics),
                        "gridstream_records_produced_total",
                        topic="meter.samples",
                    )
                    == sent
                ),
            )
            wait_until(
                "the sink's rows and commit",
                lambda: (
                    sample(
                        scrape(sink_metrics), "gridstream_sink_rows_total", topic="meter.samples"
                    )
                    == sent
                    and sample(
                        scrape(sink_metrics), "gridstream_sink_last_commit_timestamp_seconds"
                    )
                    > 0
                ),
            )
            wait_until(
                "the spool to be empty",
                lambda: (
                    sample(scrape(connector_metrics), "gridstream_spool_entries", spool="connector")
                    == 0
                ),
            )
            assert (
                sample(scrape(sink_metrics), "gridstream_sink_files_total", topic="meter.samples")
                >= 1
            )
            # The worker timed its batches, which held the 7 samples, and sampled its lag
            # from its Faust consumer for every partition of meter.samples it was given.
            wait_until(
                "the worker's batches",
                lambda: (
                    sample(
                        scrape(worker_metrics),
                        "gridstream_worker_batch_records_sum",
                        agent="quarter_hour",
                    )
                    == sent
                ),
            )
            worker_samples = scrape(worker_metrics)
            assert (
                sample(
                    worker_samples, "gridstream_worker_batch_seconds_count", agent="quarter_hour"
                )
                >= 1
            )
            wait_until(
                "the worker's lag samples",
                lambda: (
                    {
                        dict(labels)["partition"]
                        for name, labels in scrape(worker_metrics)
                        if name == "gridstream_consumer_lag"
                        and dict(labels)["group"] == "gridstream"
                        and dict(labels)["topic"] == "meter.samples"
                    }
                    == {str(p) for p in range(topics.METER_SAMPLES.partitions)}
                ),
            )

            status_env = _env(kafka_bootstrap=bootstrap, data_dir=str(tmp_path / "sink"),
                              spool_dir=str(tmp_path / "connector" / "spool"))  # fmt: skip
            every_part = [
                *("--metrics", connector_metrics),
                *("--metrics", sink_metrics),
                *("--metrics", worker_metrics),
            ]
            reports: list[tuple[int, dict[str, Any]]] = []

            def caught_up() -> bool:
                # The sink and the worker commit shortly after they processed: wait for
                # both groups' commits rather than for a fixed time.
                reports.append(status(status_env, *every_part))
                lags = {(t["group"], t["topic"]): t["lag"] for t in reports[-1][1]["lag"]}
                return (
                    lags.get(("gridstream-warehouse", "meter.samples")) == 0
                    and lags.get(("gridstream", "meter.samples")) == 0
                )

            wait_until("both groups to have committed everything", caught_up)
            code, report = reports[-1]
            assert code == 0, report
            assert report["healthy"] is True and report["reachable"] is True
            assert report["missing_topics"] == []
            assert report["stations_online"] == 0  # the charge point disconnected
            assert report["spool_entries"] == 0
            assert report["sink_last_write"] is not None
            assert report["sink_last_commit"] is not None

            # A connector whose metrics cannot be read is a problem to report (exit 1).
            code, report = status(status_env, "--metrics", "http://127.0.0.1:9/metrics")
            assert code == 1, report
            assert any("metrics at" in p for p in report["problems"])

            for part in (connector, sink, worker):
                assert part.stop()[0] == 0, part.log()
        assert broker.stop()[0] == 0
    code, report = status(_env(kafka_bootstrap=bootstrap, data_dir=str(tmp_path / "sink")))
    assert code == 2, report
    assert report["reachable"] is False
