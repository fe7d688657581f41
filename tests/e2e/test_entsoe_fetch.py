"""ENTSO-E prices fetched from an API stand-in over real HTTP reach the grid_signals view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from connectors.grid.entsoe_api import EntsoeApiError, EntsoeQuery
from gridstream.settings import Settings
from gridstream.signals_import import fetch_entsoe
from warehouse.catalog import open_catalog

pytestmark = pytest.mark.e2e

ENTSOE = Path(__file__).parents[1] / "fixtures" / "grid" / "entsoe"
BE = "10YBE----------2"
DAY = datetime(2024, 10, 7, 22, tzinfo=UTC)


@pytest.fixture
async def api() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """The TP API stand-in: the BE day for its exact query, an acknowledgement otherwise."""
    asked: list[dict[str, str]] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(dict(request.query))
        if request.query.get("securityToken") != "tp-token":
            return web.Response(status=401, text="Unauthorized")
        wanted = {"documentType": "A44", "in_Domain": BE, "out_Domain": BE,
                  "periodStart": "202410072200", "periodEnd": "202410082200"}  # fmt: skip
        name = (
            "A44_BE_2024-10-08_PT60M.xml"
            if wanted.items() <= request.query.items()
            else "acknowledgement_no_matching_data.xml"
        )
        return web.Response(body=(ENTSOE / name).read_bytes(), content_type="text/xml")

    app = web.Application()
    app.router.add_get("/api", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api", asked
    finally:
        await runner.cleanup()


async def test_a_fetched_day_of_prices_is_in_the_view_and_a_day_without_data_a_dead_letter(
    api: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, asked = api
    settings = Settings(data_dir=tmp_path / "data", entsoe_api_url=url,
                        entsoe_token="tp-token")  # type: ignore[arg-type]  # fmt: skip
    day = await fetch_entsoe(settings, EntsoeQuery("A44", BE, DAY, DAY.replace(day=8)))
    assert (day.signals, dict(day.rejected)) == (24, {})
    empty = await fetch_entsoe(settings, EntsoeQuery("A44", BE, DAY.replace(year=2030),
                                                     DAY.replace(year=2030, day=8)))  # fmt: skip
    assert (empty.signals, dict(empty.rejected)) == (0, {"no_data": 1})
    assert asked[0]["contract_MarketAgreement.type"] == "A01"

    with open_catalog(settings.data_dir) as db:
        prices = db.execute("SELECT count(*), min(value), max(value) FROM grid_signals").fetchall()
        letters = db.execute("SELECT source, reason FROM dead_letters").fetchall()
    assert prices[0][0] == 24
    assert letters == [("entsoe:A44:10YBE----------2", "no_data")]


async def test_a_wrong_token_is_an_api_error(
    api: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, _ = api
    settings = Settings(data_dir=tmp_path / "data", entsoe_api_url=url,
                        entsoe_token="wrong")  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(EntsoeApiError, match="HTTP 401"):
        await fetch_entsoe(settings, EntsoeQuery("A44", BE, DAY, DAY.replace(day=8)))
