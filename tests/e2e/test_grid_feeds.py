"""`gridstream run` with its grid feeds: documents posted to the signals endpoint reach the view."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from gridstream.broker import free_port
from gridstream.pipeline import RunOptions, run
from gridstream.settings import Settings
from warehouse.query import run_query

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]


async def test_limits_posted_to_the_running_pipeline_are_in_grid_signals_after_it_stops(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = Settings(kafka_bootstrap=None, ocpp_port=0, data_dir=tmp_path / "data",
                        sink_flush_interval_s=0.5, signals_http_port=port,
                        signals_http_token="dso-token")  # type: ignore[arg-type]  # fmt: skip
    stop = asyncio.Event()
    answers: list[tuple[int, object]] = []

    async def dso() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/signals",
                data=(ROOT / "examples" / "capacity_limits.csv").read_bytes(),
                headers={"Authorization": "Bearer dso-token"},
            ) as answer,
        ):
            answers.append((answer.status, await answer.json()))
        stop.set()

    tasks: list[asyncio.Task[None]] = []
    await run(settings, RunOptions(simulator=False), stop=stop,
              on_ready=lambda _: tasks.append(asyncio.create_task(dso())))  # fmt: skip
    await asyncio.gather(*tasks)

    assert answers == [(200, {"accepted": 3, "rejected": []})]
    _, rows = run_query(
        settings.data_dir,
        "SELECT kind, scope_id, value, unit FROM grid_signals ORDER BY interval_start, kind",
    )
    assert rows == [
        ("congestion_price", "GENT-NOORD", 12.5, "EUR/MWh"),
        ("import_capacity_limit", "541448800000000001", 40_000.0, "W"),
        ("import_capacity_limit", "541448800000000001", 32_000.0, "W"),
    ]
