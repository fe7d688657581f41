"""Serves the dashboard: the page, its static files and ``GET /api/state`` (the board's JSON).

The page polls ``/api/state`` every two seconds; the board is kept current by
``dashboard.feed``. Read-only: nothing served here writes anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from aiohttp import web

from dashboard.board import MEMORY, Board
from dashboard.feed import follow_board
from gridstream.errors import ConfigError
from gridstream.records import Record
from gridstream.settings import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
#: Where ``gridstream dashboard`` listens when GRIDSTREAM_DASHBOARD_PORT is unset.
DEFAULT_PORT = 8050


def dashboard_app(
    board: Board, now: Callable[[], datetime], *, live: bool = True
) -> web.Application:
    """The dashboard's web application over ``board``; ``live``: is it following a broker."""

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def state(request: web.Request) -> web.Response:
        body = orjson.dumps({**board.snapshot(now()), "live": live})
        return web.Response(body=body, content_type="application/json",
                            headers={"Cache-Control": "no-store"})  # fmt: skip

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/api/state", state)
    app.router.add_static("/static/", STATIC)
    return app


async def start_dashboard(
    host: str,
    port: int,
    bootstrap: str | None,
    parts: contextlib.AsyncExitStack,
    now: Callable[[], datetime],
    board: Board | None = None,
) -> int:
    """Serve the dashboard on ``host:port`` and follow the topics; the port it listens on.

    ``parts`` stops both. Without ``bootstrap`` the board is served as it is (not live).
    ``ConfigError`` when the port cannot be had.
    """
    board = board if board is not None else Board()
    live = bootstrap is not None
    runner = web.AppRunner(dashboard_app(board, now, live=live), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"the dashboard cannot listen on {host}:{port} ({exc.strerror}); set "
            "GRIDSTREAM_DASHBOARD_PORT to a free port (0 picks one)"
        ) from None
    parts.push_async_callback(runner.cleanup)
    bound = int(runner.addresses[0][1])
    log.info("dashboard: http://%s:%d/%s", host, bound, "" if live else " (not live: no broker)")
    if bootstrap is None:
        return bound
    stop = asyncio.Event()
    task = asyncio.create_task(follow_board(bootstrap, board, stop, now), name="dashboard")

    async def stop_feed() -> None:
        stop.set()
        await task

    parts.push_async_callback(stop_feed)
    return bound


async def serve_dashboard(
    settings: Settings,
    stop: asyncio.Event,
    now: Callable[[], datetime],
    on_ready: Callable[[int], None],
    history: Callable[[datetime], Sequence[Record]] | None = None,
) -> None:
    """``gridstream dashboard``: the dashboard alone, against ``GRIDSTREAM_KAFKA_BOOTSTRAP``.

    ``history(since)``, when given, gives the figures the board starts from (the warehouse's:
    ``warehouse.recent``), read before the topics are followed so that live records replace
    them (``Board.seed``). Without a broker the history alone is served, not live (the
    embedded broker of a finished ``gridstream run`` is gone; its warehouse is not);
    ``ConfigError`` when there is neither.
    """
    port = settings.dashboard_port if settings.dashboard_port is not None else DEFAULT_PORT
    board = Board(online_within=timedelta(seconds=settings.dashboard_online_s))
    seeded: Sequence[Record] = ()
    if history is not None:
        # DuckDB blocks; the loop has nothing else to do yet, but signals stay answered.
        at = now()
        seeded = await asyncio.to_thread(history, at - MEMORY)
        board.seed(seeded, at)
    if settings.kafka_bootstrap is None:
        if not seeded:
            raise ConfigError(
                "gridstream dashboard follows a running pipeline's broker and reads its "
                "warehouse: set GRIDSTREAM_KAFKA_BOOTSTRAP, or GRIDSTREAM_DATA_DIR to a "
                "warehouse with recent figures (gridstream run serves the dashboard itself "
                "with GRIDSTREAM_DASHBOARD_PORT)"
            )
        log.warning("dashboard: no GRIDSTREAM_KAFKA_BOOTSTRAP: the warehouse's figures, not live")
    async with contextlib.AsyncExitStack() as parts:
        bound = await start_dashboard(
            settings.dashboard_host, port, settings.kafka_bootstrap, parts, now, board
        )
        on_ready(bound)
        await stop.wait()
