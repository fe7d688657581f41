"""An OpenADR 3 VEN polls a VTN stand-in over real HTTP; its capacity limits reach the view."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from connectors.grid.openadr3_ven import (
    CALLBACK_PATH,
    OpenAdrVen,
    VenConfig,
    VtnError,
    serve_callbacks,
)
from gridstream.broker import broker_session
from gridstream.producer import RecordProducer
from gridstream.settings import Settings
from gridstream.signals_import import sink_until_written
from warehouse.catalog import open_catalog, refresh_views

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).parents[1] / "fixtures" / "grid" / "openadr3"
NOW = datetime(2023, 2, 9, 12, 0, tzinfo=UTC)
EAN = "871685900000000001"


def vtn_app(
    events: list[dict[str, Any]], log: list[str], subscriptions: list[Any] | None = None
) -> web.Application:
    """A VTN stand-in: client credentials for a token, events for that token, 50 a page;
    subscriptions when given a list to keep them in (else it offers none)."""

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        log.append(f"token {form.get('grant_type')} {form.get('client_id')}")
        if (form.get("client_id"), form.get("client_secret")) != ("ven-1", "s3cret"):
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response({"access_token": "tok-1", "token_type": "Bearer",
                                  "expires_in": 3600})  # fmt: skip

    async def list_events(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer tok-1":
            return web.json_response({"title": "Unauthorized"}, status=401)
        skip, limit = int(request.query["skip"]), int(request.query["limit"])
        log.append(f"events programID={request.query.get('programID')} skip={skip}")
        return web.json_response(events[skip : skip + limit])

    async def subscribe(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer tok-1":
            return web.json_response({"title": "Unauthorized"}, status=401)
        subscriptions.append(await request.json())
        log.append("subscribe")
        return web.json_response({"id": "sub-1", "objectType": "SUBSCRIPTION"}, status=201)

    async def program(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"], "programName": "limits"})

    async def unsubscribe(request: web.Request) -> web.Response:
        log.append(f"unsubscribe {request.match_info['id']}")
        return web.json_response({"id": request.match_info["id"]})

    app = web.Application()
    app.router.add_post("/auth/token", token)
    app.router.add_get("/events", list_events)
    if subscriptions is not None:
        app.router.add_get("/programs/{id}", program)
        app.router.add_post("/subscriptions", subscribe)
        app.router.add_delete("/subscriptions/{id}", unsubscribe)
    return app


@pytest.fixture
async def vtn() -> AsyncIterator[tuple[str, list[dict[str, Any]], list[str]]]:
    events: list[dict[str, Any]] = []
    log: list[str] = []
    runner = web.AppRunner(vtn_app(events, log))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", events, log
    finally:
        await runner.cleanup()


def spec_event(name: str, **fields: Any) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text()) | fields


async def test_a_capacity_limit_from_the_vtn_reaches_grid_signals_and_the_view(
    vtn: tuple[str, list[dict[str, Any]], list[str]], tmp_path: Path
) -> None:
    url, events, log = vtn
    # The spec's envelope as the VTN serves it (an id, a modification time), for one EAN.
    events.append(
        spec_event(
            "event_capacity_limit.oadr310-ug-8.10.1-1.json",
            id="ev-44",
            modificationDateTime="2023-02-09T10:00:00Z",
            targets=[EAN],
        )
    )
    events.extend(spec_event("event_pricing.oadr310-ug-8.3-2.json", id=f"price-{i}",
                             targets=[EAN]) for i in range(50))  # fmt: skip
    settings = Settings(data_dir=tmp_path / "data")
    config = VenConfig(vtn_url=url, client_id="ven-1", client_secret="s3cret", program_id=None)
    with broker_session(None) as broker:
        async with RecordProducer(broker.bootstrap) as producer, aiohttp.ClientSession() as http:
            ven = OpenAdrVen(config, http, producer.publish, lambda: NOW)
            first = await ven.poll_once()
            again = await ven.poll_once()  # nothing changed: nothing published twice
            await sink_until_written(broker, settings, producer, lambda: NOW)
    refresh_views(settings.data_dir)

    assert len(first.signals) == 4 + 50 * 2  # the envelope, and two prices per pricing event
    assert again.signals == ()
    # one token for both polls; two pages (50 + 1 events) per poll
    assert log == ["token client_credentials ven-1", "events programID=None skip=0",
                   "events programID=None skip=50", "events programID=None skip=0",
                   "events programID=None skip=50"]  # fmt: skip
    with open_catalog(settings.data_dir) as db:
        rows = db.execute(
            "SELECT kind, scope_id, interval_start, value, unit, document_id FROM grid_signals "
            "WHERE kind LIKE '%capacity_limit' ORDER BY interval_start, kind"
        ).fetchall()
    t0 = datetime(2023, 2, 10, 0, 0, tzinfo=UTC)
    t1 = datetime(2023, 2, 10, 0, 30, tzinfo=UTC)
    assert rows == [
        ("export_capacity_limit", EAN, t0, 4_000.0, "W", "ev-44"),
        ("import_capacity_limit", EAN, t0, 10_000.0, "W", "ev-44"),
        ("export_capacity_limit", EAN, t1, 6_000.0, "W", "ev-44"),
        ("import_capacity_limit", EAN, t1, 8_000.0, "W", "ev-44"),
    ]


async def test_wrong_client_credentials_are_a_vtn_error_naming_the_client(
    vtn: tuple[str, list[dict[str, Any]], list[str]],
) -> None:
    url, _, _ = vtn
    config = VenConfig(vtn_url=url, client_id="ven-1", client_secret="wrong")
    published: list[object] = []

    async def publish(records: object) -> None:
        published.append(records)

    async with aiohttp.ClientSession() as http:
        ven = OpenAdrVen(config, http, publish, lambda: NOW)  # type: ignore[arg-type]
        with pytest.raises(VtnError, match="HTTP 401: the VTN refused client 'ven-1'"):
            await ven.poll_once()
    assert published == []


async def test_a_vtn_that_offers_subscriptions_notifies_the_ven_of_a_new_limit(
    tmp_path: Path,
) -> None:
    events: list[dict[str, Any]] = []
    log: list[str] = []
    subscriptions: list[Any] = []
    runner = web.AppRunner(vtn_app(events, log, subscriptions))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    settings = Settings(data_dir=tmp_path / "data")
    config = VenConfig(vtn_url=url, client_id="ven-1", client_secret="s3cret", program_id="p-1")
    limit = spec_event("event_capacity_limit.oadr310-ug-8.10.1-1.json", id="ev-45",
                       modificationDateTime="2023-02-09T11:00:00Z", targets=[EAN])  # fmt: skip
    try:
        with broker_session(None) as broker:
            async with (
                RecordProducer(broker.bootstrap) as producer,
                aiohttp.ClientSession() as http,
            ):
                ven = OpenAdrVen(config, http, producer.publish, lambda: NOW)
                callbacks = await serve_callbacks("127.0.0.1", 0, ven)
                callback_url = f"http://127.0.0.1:{callbacks.addresses[0][1]}{CALLBACK_PATH}"
                assert await ven.subscribe(callback_url)
                [operation] = subscriptions[0]["objectOperations"]
                # the VTN notifies, with the token the VEN gave it, and a stranger tries
                notification = {"objectType": "EVENT", "operation": "CREATE", "object": limit}
                statuses = []
                for token in (operation["bearerToken"], "guess"):
                    async with http.post(
                        operation["callbackUrl"],
                        json=notification,
                        headers={"Authorization": f"Bearer {token}"},
                    ) as answer:
                        statuses.append(answer.status)  # fmt: skip
                again = await ven.poll_once()  # the VTN lists the event too: not published again
                await ven.unsubscribe()
                await callbacks.cleanup()
                await sink_until_written(broker, settings, producer, lambda: NOW)
    finally:
        await runner.cleanup()
    refresh_views(settings.data_dir)

    assert subscriptions[0]["programID"] == "p-1"
    assert operation["objects"] == ["EVENT"]
    assert operation["callbackUrl"] == callback_url
    assert statuses == [200, 401]
    assert (ven.notifications, ven.signals_published, again.signals) == (1, 4, ())
    assert log[-1] == "unsubscribe sub-1"
    with open_catalog(settings.data_dir) as db:
        count = db.execute(
            "SELECT count(*) FROM grid_signals WHERE document_id = 'ev-45'"
        ).fetchone()
    assert count == (4,)


async def test_a_vtn_without_subscriptions_is_polled_only(
    vtn: tuple[str, list[dict[str, Any]], list[str]],
) -> None:
    url, _, _ = vtn
    config = VenConfig(vtn_url=url, client_id="ven-1", client_secret="s3cret")

    async def publish(records: object) -> None:
        pass

    async with aiohttp.ClientSession() as http:
        ven = OpenAdrVen(config, http, publish, lambda: NOW)  # type: ignore[arg-type]
        assert await ven.subscribe("http://127.0.0.1:1/openadr3/notifications") is False
        assert ven.subscription_id is None
