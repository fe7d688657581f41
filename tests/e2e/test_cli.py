"""The command line as a user runs it: `gridstream run`, then `gridstream query`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

GRIDSTREAM = [sys.executable, "-m", "gridstream.cli"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDSTREAM_")}
    env.update(
        GRIDSTREAM_DATA_DIR=str(data_dir), GRIDSTREAM_OCPP_PORT="0", GRIDSTREAM_OCPI_PORT="0"
    )
    return env


def _tansu_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,stat=,args=", "--ppid", str(pid)],
                         capture_output=True, text=True).stdout  # fmt: skip
    return [int(line.split()[0]) for line in out.splitlines()
            if "tansu" in line and line.split()[1][0] != "Z"]  # fmt: skip


def test_run_prints_per_site_figures_that_query_reads_back(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    run = subprocess.run(
        [*GRIDSTREAM, "run", "--duration", "6", "--speed", "600"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    for site in ("BE-ANT-DEPOT", "BE-GNT-OFFICE", "BE-BRU-RETAIL"):
        assert site in run.stdout

    query = subprocess.run(
        [*GRIDSTREAM, "query", "--format", "json",
         "SELECT site_id, sum(import_wh) AS wh FROM quarter_hour_load GROUP BY site_id"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert query.returncode == 0, query.stderr
    energy = {row["site_id"]: row["wh"] for row in json.loads(query.stdout)}
    assert set(energy) == {"BE-ANT-DEPOT", "BE-GNT-OFFICE", "BE-BRU-RETAIL"}
    assert all(wh > 0 for wh in energy.values())

    verify = subprocess.run(
        [*GRIDSTREAM, "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "; 0 differ from what the stream wrote" in verify.stdout


def test_query_names_the_views_when_a_table_is_unknown(tmp_path: Path) -> None:
    query = subprocess.run(
        [*GRIDSTREAM, "query", "SELECT * FROM no_such_view"],
        env=_env(tmp_path / "data"), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert query.returncode == 2
    assert "meter_readings" in query.stderr


def test_ctrl_c_ends_the_run_cleanly_and_stops_the_broker(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*GRIDSTREAM, "run", "--no-simulator"],
        env=_env(tmp_path / "data"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not _tansu_children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    [broker] = _tansu_children(proc.pid)
    time.sleep(3)  # let the worker and sink start
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "gridstream run finished" in out
    assert not Path(f"/proc/{broker}").exists() or "Z" in Path(f"/proc/{broker}/stat").read_text()


def test_a_port_in_use_is_a_clear_error_and_nothing_is_left_running(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {**_env(tmp_path / "data"), "GRIDSTREAM_OCPP_PORT": str(taken.getsockname()[1])}
        run = subprocess.run(
            [*GRIDSTREAM, "run", "--duration", "5"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert run.returncode == 2
    assert "cannot listen on 127.0.0.1:" in run.stderr
    assert "GRIDSTREAM_OCPP_PORT" in run.stderr


def test_a_second_ctrl_c_stops_at_once_and_still_stops_the_broker(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*GRIDSTREAM, "run"],  # with the simulator: the first Ctrl-C would drain
        env=_env(tmp_path / "data"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not _tansu_children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    [broker] = _tansu_children(proc.pid)
    time.sleep(8)  # the worker, the sink and the stations are running
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted; every part was stopped" in err
    assert not Path(f"/proc/{broker}").exists() or "Z" in Path(f"/proc/{broker}/stat").read_text()


def test_the_simulator_with_authentication_on_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    credentials = tmp_path / "stations.jsonl"
    credentials.write_text("")
    env = {**_env(tmp_path / "data"), "GRIDSTREAM_OCPP_CREDENTIALS_FILE": str(credentials)}
    run = subprocess.run(
        [*GRIDSTREAM, "run", "--duration", "5"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "--no-simulator" in run.stderr


def test_gridstream_ocpi_serves_alone_and_a_provisioned_partner_reaches_it(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port to tell the partner
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**_env(tmp_path / "data"), "GRIDSTREAM_OCPI_PORT": str(port)}
    added = subprocess.run(
        [*GRIDSTREAM, "ocpi", "partner", "add", "--country-code", "BE", "--party-id", "BEC"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert f"versions URL: http://127.0.0.1:{port}/ocpi/versions" in added.stdout
    header = next(
        line.split("Authorization: ", 1)[1]
        for line in added.stdout.splitlines()
        if "Authorization:" in line
    )
    proc = subprocess.Popen(
        [*GRIDSTREAM, "ocpi"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/ocpi/versions", headers={"Authorization": header}
                )
            except httpx.ConnectError:
                time.sleep(0.2)
        assert answer is not None and answer.json()["status_code"] == 1000
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
