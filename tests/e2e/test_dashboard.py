"""The dashboard in a real browser (Debian's chromium through playwright): the page loads, the
chart draws, and new records from the broker show on the page within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from dashboard.server import start_dashboard
from gridstream import topics
from gridstream.broker import broker_session
from gridstream.producer import RecordProducer
from gridstream.records import Peak, SiteAssignment
from tests.unit.dashboard.records import NOW, Q, load, register
from warehouse.sink import ParquetSink

pytestmark = pytest.mark.e2e


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("the browser test needs Debian's chromium: apt-get install chromium "
                    "(.ci/run installs it)")  # fmt: skip
    return path


async def test_the_page_draws_the_day_and_shows_new_records_within_seconds(
    tmp_path: Path,
) -> None:
    t0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    with broker_session(None) as broker:
        async with (
            RecordProducer(broker.bootstrap) as producer,
            contextlib.AsyncExitStack() as parts,
            async_playwright() as playwright,
        ):
            await producer.publish([
                SiteAssignment(station_id="ST1", site_id="S1", name="Depot Gent",
                               contracted_capacity_w=20_000.0, timezone="Europe/Brussels"),
                Peak(site_id="S1", month="2026-12", peak_w=14_000.0, interval_start=t0,
                     revision=0, computed_by="test", as_of=NOW),
                *(load(t0 + i * Q, w) for i, w in enumerate([6_000.0, 9_000.0, 12_000.0])),
            ])  # fmt: skip
            port = await start_dashboard("127.0.0.1", 0, broker.bootstrap, parts, lambda: NOW)
            browser = await playwright.chromium.launch(executable_path=chromium())
            page = await browser.new_page(viewport={"width": 1100, "height": 800})
            await page.goto(f"http://127.0.0.1:{port}/")

            site = page.locator('.site[data-site="S1"]')
            await expect(site.locator(".qh-count")).to_have_text("3", timeout=20_000)
            await expect(site.locator("h2")).to_contain_text("Depot Gent")
            # uPlot drew: a canvas of the chart's size, and a legend entry per series
            box = await site.locator("canvas").bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            assert (
                await site.locator(".u-legend .u-series").count() == 4
            )  # load, projected, peak, limit
            await expect(site.locator(".figures")).to_contain_text("month peak 14.0 kW")
            await expect(site.locator(".figures")).to_contain_text("limit 20.0 kW")

            # new records: the next quarter-hour, and readings of the open one
            began = time.monotonic()
            await producer.publish([
                load(t0 + 3 * Q, 15_000.0),
                register(datetime(2026, 12, 4, 10, 0, tzinfo=UTC), 1_000.0),
                register(datetime(2026, 12, 4, 10, 5, tzinfo=UTC), 3_000.0),
            ])  # fmt: skip
            await expect(site.locator(".qh-count")).to_have_text("4", timeout=10_000)
            # 2 kWh by 10:05 at 24 kW for 10 more minutes: 6 kWh / 0.25 h = 24 kW, over 20 kW
            await expect(site.locator(".projected")).to_have_text("24.0 kW", timeout=10_000)
            await expect(site.locator(".projected")).to_have_class("projected over")
            assert time.monotonic() - began < 10
            await expect(page.locator("#stations")).to_contain_text("online")
            await page.screenshot(path=str(tmp_path / "dashboard.png"))
            if shot := os.environ.get("GRIDSTREAM_TEST_SCREENSHOT"):
                await page.screenshot(path=shot)
            await browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def warehouse_of_today(data_dir: Path) -> tuple[datetime, list[int]]:
    """Site S1 and its first two quarter-hours of today (Brussels), at revision 2, written
    by the sink as an earlier broker epoch left them; today's midnight and the first three
    quarter-hours' starts in ms."""
    zone = ZoneInfo("Europe/Brussels")
    local = datetime.now(UTC).astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(UTC)
    sink = ParquetSink(data_dir, "gridstream-earlier")
    for offset, record in enumerate([
        SiteAssignment(station_id="ST1", site_id="S1", timezone="Europe/Brussels"),
        load(midnight, 4_000.0, revision=2),
        load(midnight + Q, 5_000.0, revision=2),
    ]):  # fmt: skip
        topic = next(t.name for t in topics.ALL if t.record is type(record))
        sink.add(topic, 0, offset, record.to_json())
    sink.flush()
    return midnight, [int((midnight + i * Q).timestamp() * 1000) for i in range(3)]


def command_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDSTREAM_")}
    return env | {"GRIDSTREAM_DATA_DIR": str(data_dir), "GRIDSTREAM_DASHBOARD_PORT": "0"} | settings


@contextlib.asynccontextmanager
async def gridstream_dashboard(env: dict[str, str]) -> AsyncIterator[str]:
    """``gridstream dashboard`` running; the URL of its state, once it printed where it is.
    Stopped by SIGINT at the end, and it must exit 0."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gridstream.cli", "dashboard", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found is not None, line
        yield f"http://127.0.0.1:{found[1]}/api/state"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-3000:]


async def test_gridstream_dashboard_starts_from_the_warehouse_then_follows_the_broker(
    tmp_path: Path,
) -> None:
    """The command as a user runs it: today's figures from an earlier broker's warehouse at
    once, then the live broker's, which replace them whatever their revision."""
    midnight, ms = warehouse_of_today(tmp_path / "data")
    with broker_session(None) as broker:
        env = command_env(tmp_path / "data", GRIDSTREAM_KAFKA_BOOTSTRAP=broker.bootstrap)
        async with (
            gridstream_dashboard(env) as url,
            httpx.AsyncClient() as client,
            RecordProducer(broker.bootstrap) as producer,
        ):

            async def site() -> dict[str, Any]:
                state = (await client.get(url)).json()
                assert state["live"] is True
                return next(s for s in state["sites"] if s["site_id"] == "S1")

            # served once the warehouse was read: no wait
            assert (await site())["quarter_hours"] == [[ms[0], 4_000.0], [ms[1], 5_000.0]]
            await producer.publish([load(midnight + Q, 6_000.0), load(midnight + 2 * Q, 7_000.0)])
            want = [[ms[0], 4_000.0], [ms[1], 6_000.0], [ms[2], 7_000.0]]
            deadline = time.monotonic() + 10
            while (got := (await site())["quarter_hours"]) != want:
                assert time.monotonic() < deadline, got
                await asyncio.sleep(0.2)  # the condition is polled, as the page polls


async def test_without_a_broker_gridstream_dashboard_serves_the_warehouse_not_live(
    tmp_path: Path,
) -> None:
    """After a make run the embedded broker is gone; its warehouse still shows the day."""
    _, ms = warehouse_of_today(tmp_path / "data")
    async with gridstream_dashboard(command_env(tmp_path / "data")) as url:
        state = httpx.get(url).json()
    assert state["live"] is False
    assert [(s["site_id"], s["quarter_hours"]) for s in state["sites"]] == [
        ("S1", [[ms[0], 4_000.0], [ms[1], 5_000.0]])
    ]


def test_without_a_broker_or_a_warehouse_gridstream_dashboard_says_what_to_set(
    tmp_path: Path,
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "gridstream.cli", "dashboard"],
        env=command_env(tmp_path / "nothing"), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "GRIDSTREAM_KAFKA_BOOTSTRAP" in run.stderr and "GRIDSTREAM_DATA_DIR" in run.stderr
    assert not (tmp_path / "nothing").exists()
