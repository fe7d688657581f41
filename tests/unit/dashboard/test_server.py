"""The dashboard's routes: the page, its files from the package, the board's JSON; no more."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp.test_utils import TestClient, TestServer

from dashboard.board import Board
from dashboard.server import dashboard_app
from gridstream.records import SiteAssignment

NOW = datetime(2026, 12, 4, 10, 7, 30, tzinfo=UTC)


async def test_the_page_its_files_and_the_state_are_served_and_nothing_else() -> None:
    board = Board()
    board.take([SiteAssignment(station_id="ST1", site_id="S1")], NOW)
    async with TestClient(TestServer(dashboard_app(board, lambda: NOW))) as client:
        page = await client.get("/")
        assert page.status == 200 and "/static/vendor/uPlot.iife.min.js" in await page.text()
        chart = await client.get("/static/vendor/uPlot.iife.min.js")
        assert chart.status == 200 and (await chart.text()).startswith(
            "/*! https://github.com/leeoniya/uPlot"
        )
        state = await client.get("/api/state")
        assert state.headers["Cache-Control"] == "no-store"
        assert [s["site_id"] for s in (await state.json())["sites"]] == ["S1"]
        # the package's code is not a static file, however the path is spelled
        for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/static/"):
            assert (await client.get(path)).status in (403, 404), path
        assert (await client.post("/api/state")).status == 405
