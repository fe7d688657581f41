"""A TOMP poller reads a transport operator stand-in's bookings over real HTTP; the fleet's
next departures reach ev.charging_needs and the warehouse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from connectors.tomp.bookings import FleetCar
from connectors.tomp.client import TompConfig, TompError, TompPoller
from gridstream import topics
from gridstream.broker import broker_session
from gridstream.producer import RecordProducer
from gridstream.settings import Settings
from gridstream.signals_import import sink_until_written
from warehouse.catalog import open_catalog, refresh_views

pytestmark = pytest.mark.e2e

BOOKINGS = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "tomp" / "bookings_shared_cars.constructed.json")
    .read_text()
)  # fmt: skip
NOW = datetime(2026, 12, 4, 5, 0, tzinfo=UTC)
FLEET = {"car-17": FleetCar("car-17", "GNT-HUB-AC1", 1)}


@pytest.fixture
async def operator() -> AsyncIterator[tuple[str, list[str]]]:
    """A TO stand-in: GET /bookings?state=..., for our maas-id and token only."""
    asked: list[str] = []

    async def bookings(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer to-token":
            return web.json_response({"errorcode": 401, "title": "unauthorized"}, status=401)
        asked.append(f"{request.query['state']} {request.headers['maas-id']} "
                     f"{request.headers['Api-Version']}")  # fmt: skip
        return web.json_response([b for b in BOOKINGS if b["state"] == request.query["state"]])

    app = web.Application()
    app.router.add_get("/tomp/bookings", bookings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/tomp", asked
    finally:
        await runner.cleanup()


async def test_the_next_trip_of_a_fleet_car_reaches_the_charging_needs_view(
    operator: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, asked = operator
    settings = Settings(data_dir=tmp_path / "data")
    config = TompConfig(url=url, maas_id="gridstream-test", token="to-token", fleet=FLEET)
    with broker_session(None) as broker:
        async with RecordProducer(broker.bootstrap) as producer, aiohttp.ClientSession() as http:
            poller = TompPoller(config, http, producer.publish, lambda s: "GNT", lambda: NOW)
            first = await poller.poll_once()
            again = await poller.poll_once()  # nothing changed: nothing published twice
            kept: Any = (topics.EV_CHARGING_NEEDS, topics.DLQ)
            await sink_until_written(broker, settings, producer, lambda: NOW, kept)
    refresh_views(settings.data_dir)

    assert [n.message_id for n in first] == ["tomp:bk-1001"]
    assert again == []
    assert (
        asked
        == ["CONDITIONAL_CONFIRMED gridstream-test 1.6.1", "CONFIRMED gridstream-test 1.6.1"] * 2
    )
    with open_catalog(settings.data_dir) as db:
        rows = db.execute(
            "SELECT site_id, station_id, evse_id, departure_time, target_energy_wh, source "
            "FROM ev_charging_needs"
        ).fetchall()
    assert rows == [("GNT", "GNT-HUB-AC1", 1, datetime(2026, 12, 4, 6, 30, tzinfo=UTC),
                     pytest.approx(24_192.0), "tomp")]  # fmt: skip


async def test_a_refused_token_is_a_tomp_error_naming_the_status(
    operator: tuple[str, list[str]],
) -> None:
    url, _ = operator
    config = TompConfig(url=url, maas_id="m", token="wrong", fleet=FLEET)

    async def publish(records: object) -> None:
        raise AssertionError("nothing to publish")

    async with aiohttp.ClientSession() as http:
        poller = TompPoller(config, http, publish, lambda s: s, lambda: NOW)  # type: ignore[arg-type]
        with pytest.raises(TompError, match="HTTP 401"):
            await poller.poll_once()
