"""End to end, one process per part: `gridstream broker`, `connector`, `worker` and `sink`.

The broker announces its bootstrap address; the other three run against it with data dirs
of their own, as they would on separate hosts. A real `ocpp` 2.0.1 charge point sends meter
values to the connector process, and the sink's warehouse must show the quarter-hour the
meter counted. SIGTERM then stops every process cleanly: exit code 0 and its summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import websockets
from ocpp.v201 import ChargePoint, call, datatypes
from websockets.typing import Subprotocol

from gridstream.periods import quarter_hour_start
from warehouse.query import QueryError, run_query

pytestmark = pytest.mark.e2e

GRIDSTREAM = [sys.executable, "-m", "gridstream.cli"]


@dataclass
class Part:
    """A gridstream process, its stdout lines as they come, its stderr in a file."""

    name: str
    proc: subprocess.Popen[str]
    lines: queue.Queue[str]
    stderr: Path

    def next_line(self, timeout_s: float = 60.0) -> str:
        try:
            return self.lines.get(timeout=timeout_s)
        except queue.Empty:
            pytest.fail(f"gridstream {self.name} said nothing in {timeout_s} s: {self.log()}")

    def log(self) -> str:
        return self.stderr.read_text()[-3000:]

    def stop(self, timeout_s: float = 60.0) -> tuple[int, list[str]]:
        """SIGTERM; the exit code and what it printed after the ready line."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout_s)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return code, rest


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDSTREAM_")}
    env.update({f"GRIDSTREAM_{k.upper()}": v for k, v in settings.items()})
    return env


@contextlib.contextmanager
def started(name: str, tmp_path: Path, env: dict[str, str]) -> Iterator[Part]:
    """``gridstream <name>`` running; killed at the end if a test left it running."""
    stderr = tmp_path / f"{name}.log"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [*GRIDSTREAM, name], env=env, stdout=subprocess.PIPE, stderr=err, text=True
        )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    try:
        yield Part(name, proc, lines, stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


async def send_meter_values(url: str, station_id: str, t0: datetime) -> int:
    """Register readings every 5 minutes from ``t0`` for 30 minutes, at 100 Wh a minute
    (6 kW); each must be answered CALLRESULT. Returns the number of messages sent."""
    async with websockets.connect(
        f"{url}/{station_id}", subprotocols=[Subprotocol("ocpp2.0.1")]
    ) as ws:
        cp = ChargePoint(station_id, ws, response_timeout=30)
        reader = asyncio.create_task(cp.start())
        sent = 0
        for minute in range(0, 31, 5):
            stamp = (t0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
            value = datatypes.SampledValueType(
                value=1000.0 + 100.0 * minute,
                measurand="Energy.Active.Import.Register",
                unit_of_measure=datatypes.UnitOfMeasureType(unit="Wh"),
            )
            await cp.call(
                call.MeterValues(
                    evse_id=1,
                    meter_value=[datatypes.MeterValueType(timestamp=stamp, sampled_value=[value])],
                ),
                suppress=False,
            )
            sent += 1
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
    return sent


def _quarter_hour(data_dir: Path, site: str, start: datetime) -> tuple[object, ...] | None:
    try:
        _, rows = run_query(
            data_dir,
            "SELECT import_wh, export_wh, avg_import_w, completeness, estimated "
            f"FROM quarter_hour_load WHERE site_id = '{site}' "
            f"AND interval_start = TIMESTAMPTZ '{start.isoformat()}'",
        )
    except QueryError:  # nothing written yet: no view over the topic's files
        return None
    return rows[0] if rows else None


async def test_broker_connector_worker_and_sink_as_separate_processes(tmp_path: Path) -> None:
    with started("broker", tmp_path, _env()) as broker:
        announced = broker.next_line()
        assert announced.startswith("GRIDSTREAM_KAFKA_BOOTSTRAP=127.0.0.1:")
        bootstrap = announced.partition("=")[2]
        common = {
            "kafka_bootstrap": bootstrap,
            # One node: one copy (what `gridstream broker` advises in its log).
            "topic_replication_factor": "1",
            "topic_min_insync_replicas": "1",
            "sink_flush_interval_s": "0.5",
        }
        with (
            started(
                "connector",
                tmp_path,
                _env(**common, data_dir=str(tmp_path / "connector"), ocpp_port="0", ocpi_port="0"),
            ) as connector,
            started(
                "worker", tmp_path, _env(**common, data_dir=str(tmp_path / "worker"))
            ) as worker,
            started("sink", tmp_path, _env(**common, data_dir=str(tmp_path / "sink"))) as sink,
        ):
            ready = connector.next_line()
            assert ready.startswith("gridstream connector: OCPP on ws://127.0.0.1:"), ready
            url = ready.split(" on ")[1].removesuffix("/{station_id}")
            assert worker.next_line().startswith("gridstream worker:")
            assert sink.next_line().startswith("gridstream sink:")

            t0 = quarter_hour_start(datetime.now(UTC)) - timedelta(hours=2)
            assert await send_meter_values(url, "CP-SEP", t0) == 7

            # [t0, t0 + 15 min): the register went from 1,000 Wh to 2,500 Wh (readings on
            # both boundaries: measured fully), 1,500 Wh in a quarter-hour = 6,000 W.
            deadline = time.monotonic() + 120
            while (got := _quarter_hour(tmp_path / "sink", "CP-SEP", t0)) is None:
                assert time.monotonic() < deadline, worker.log() + sink.log()
                await asyncio.sleep(0.2)
            assert got == (1500.0, 0.0, 6000.0, 1.0, False)

            stopped = {part.name: part.stop() for part in (connector, worker, sink)}
        broker_code, broker_said = broker.stop()

    assert {name: code for name, (code, _) in stopped.items()} == {
        "connector": 0,
        "worker": 0,
        "sink": 0,
    }, {part: lines for part, (_, lines) in stopped.items()}
    assert broker_code == 0
    assert stopped["connector"][1] == [
        "gridstream connector stopped: OCPP messages accepted 7, rejected 0; OCPI requests "
        "accepted 0, refused 0; records forwarded 7; spool entries held 0"
    ]
    [worker_summary] = stopped["worker"][1]
    assert worker_summary.startswith("gridstream worker stopped: samples processed 7;")
    [sink_summary] = stopped["sink"][1]
    assert "load.quarter_hour" in sink_summary and "meter.samples 7" in sink_summary
    assert broker_said[0].startswith("gridstream broker stopped")


def _tansu_children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=,stat=,args=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [
        int(line.split()[0])
        for line in out.splitlines()
        if "tansu" in line and line.split()[1][0] != "Z"
    ]


def test_ctrl_c_stops_a_part_and_the_broker_cleanly_and_leaves_no_broker_process(
    tmp_path: Path,
) -> None:
    with started("broker", tmp_path, _env()) as broker:
        bootstrap = broker.next_line().partition("=")[2]
        [tansu] = _tansu_children(broker.proc.pid)
        env = _env(
            kafka_bootstrap=bootstrap,
            topic_replication_factor="1",
            topic_min_insync_replicas="1",
            data_dir=str(tmp_path / "sink"),
        )
        with started("sink", tmp_path, env) as sink:
            assert sink.next_line().startswith("gridstream sink:")
            sink.proc.send_signal(signal.SIGINT)
            assert sink.proc.wait(timeout=60) == 0, sink.log()
            assert sink.next_line() == (
                f"gridstream sink stopped: warehouse {tmp_path / 'sink'}: nothing written"
            )
        broker.proc.send_signal(signal.SIGINT)
        assert broker.proc.wait(timeout=60) == 0, broker.log()
    assert not Path(f"/proc/{tansu}").exists() or " Z " in Path(f"/proc/{tansu}/stat").read_text()
