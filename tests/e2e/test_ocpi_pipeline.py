"""End to end: an OCPI partner registers, PUTs its Location, pushes a session in PATCHes and
its CDR over real HTTP to `gridstream run`; the location places the EVSE on its site in the
running registry, and the readings reach meter_readings, quarter_hour_load (of that site)
and the CDR comparison view through the embedded broker, the Faust worker and the sink."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.ocpi import PartnerStore, PartyRef, authorization
from connectors.ocpi.server import AsgiServer, serve_asgi
from gridstream.parts import partners_file
from gridstream.pipeline import RunOptions, RunResult, run
from gridstream.settings import Settings
from warehouse.query import run_query

pytestmark = pytest.mark.e2e

URL = "/ocpi/2.2.1/sessions/BE/BEC/S1"
LOCATION_URL = "/ocpi/2.2.1/locations/BE/BEC/L1"
LOCATION = {
    "country_code": "BE", "party_id": "BEC", "id": "L1", "publish": True,
    "address": "F. Rooseveltlaan 3A", "city": "Gent", "country": "BEL",
    "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
    "time_zone": "Europe/Brussels",
    "evses": [{"uid": "E1", "status": "AVAILABLE", "last_updated": "2026-01-01T00:00:00Z",
               "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                               "power_type": "AC_3_PHASE", "max_voltage": 230,
                               "max_amperage": 32, "last_updated": "2026-01-01T00:00:00Z"}]}],
    "last_updated": "2026-01-01T00:00:00Z",
}  # fmt: skip


async def placed_on(data_dir: Path, station: str, site: str, timeout_s: float = 30.0) -> None:
    """Wait until the registry entry placing ``station`` on ``site`` is in the warehouse."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    query = (
        "SELECT rated_power_w FROM site_registry_history "
        f"WHERE station_id = '{station}' AND site_id = '{site}'"
    )
    while True:
        with contextlib.suppress(Exception):  # no registry file written yet
            if run_query(data_dir, query)[1]:
                return
        assert loop.time() < deadline, f"{station} never placed on {site}"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def partner_versions() -> AsyncIterator[AsgiServer]:
    """The partner's own versions endpoint, which gridstream GETs with token B."""

    async def versions(request: Request) -> JSONResponse:
        assert request.headers["Authorization"] == authorization("token-b")
        return JSONResponse(
            {"data": [{"version": "2.2.1", "url": "http://127.0.0.1/x/2.2.1"}],
             "status_code": 1000, "timestamp": "2026-01-15T10:00:00Z"}
        )  # fmt: skip

    server = await serve_asgi("127.0.0.1", 0, Starlette(routes=[Route("/versions", versions)]))
    try:
        yield server
    finally:
        await server.close()


def period(start: str, kind: str, kwh: float) -> dict[str, Any]:
    return {"start_date_time": start, "dimensions": [{"type": kind, "volume": kwh}]}


@dataclass
class Partner:
    """A CPO registered with a running ``gridstream run`` (no simulator)."""

    settings: Settings
    base: str
    client: httpx.AsyncClient
    auth: dict[str, str]
    #: The run's result, once the context has ended.
    result: RunResult | None = None


@contextlib.asynccontextmanager
async def registered_partner(tmp_path: Path) -> AsyncIterator[Partner]:
    """``gridstream run`` with the OCPI receiver, and CPO BE*BEC registered with it (2.2.1)."""
    settings = Settings(
        kafka_bootstrap=None,
        ocpp_port=0,
        ocpi_port=0,
        data_dir=tmp_path / "data",
        sink_flush_interval_s=0.5,
    )
    token_a = PartnerStore(partners_file(settings)).add(PartyRef("BE", "BEC"), "CPO")
    ready: asyncio.Future[RunResult] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(settings, RunOptions(simulator=False), stop=stop, on_ready=ready.set_result)
    )
    partner: Partner | None = None
    try:
        started = await asyncio.wait_for(ready, 120)
        base = f"http://127.0.0.1:{started.ocpi_port}"
        async with partner_versions() as peer, httpx.AsyncClient(base_url=base) as client:
            creds = {
                "token": "token-b",
                "url": f"http://127.0.0.1:{peer.port}/versions",
                "roles": [{"role": "CPO", "country_code": "BE", "party_id": "BEC"}],
            }
            answer = await client.post(
                "/ocpi/2.2.1/credentials",
                json=creds,
                headers={"Authorization": authorization(token_a)},
            )
            assert answer.json()["status_code"] == 1000, answer.text
            auth = {"Authorization": authorization(answer.json()["data"]["token"])}
            partner = Partner(settings, base, client, auth)
            yield partner
    finally:
        stop.set()
        result = await asyncio.wait_for(task, 180)
        if partner is not None:
            partner.result = result


async def test_a_partner_registers_and_its_session_reaches_the_warehouse(tmp_path: Path) -> None:
    async with registered_partner(tmp_path) as partner:
        settings, client, auth = partner.settings, partner.client, partner.auth
        # The location places EVSE E1 (3 x 230 V x 32 A = 22,080 W) on site BE*BEC*L1:
        # the running connector's registry takes it on, no restart.
        answer = await client.put(LOCATION_URL, json=LOCATION, headers=auth)
        assert answer.json()["status_code"] == 1000, answer.text
        await placed_on(settings.data_dir, "BE*BEC*E1", "BE*BEC*L1")

        session = {
            "country_code": "BE", "party_id": "BEC", "id": "S1",
            "start_date_time": "2026-01-15T10:00:00Z", "kwh": 0.0,
            "cdr_token": {"country_code": "BE", "party_id": "BEC", "uid": "RFID1",
                          "type": "RFID", "contract_id": "BE-BEC-C1"},
            "auth_method": "WHITELIST", "location_id": "L1", "evse_uid": "E1",
            "connector_id": "1", "currency": "EUR", "status": "ACTIVE",
            "last_updated": "2026-01-15T10:00:00Z",
        }  # fmt: skip
        patches = [
            {"kwh": 3.0, "charging_periods": [period("2026-01-15T10:00:00Z", "ENERGY", 3.0)],
             "last_updated": "2026-01-15T10:15:00Z"},
            {"kwh": 5.0, "charging_periods": [period("2026-01-15T10:15:00Z", "ENERGY", 2.0)],
             "last_updated": "2026-01-15T10:30:00Z"},
            {"kwh": 6.0, "status": "COMPLETED", "end_date_time": "2026-01-15T10:45:00Z",
             "charging_periods": [period("2026-01-15T10:30:00Z", "ENERGY_IMPORT", 1.0)],
             "last_updated": "2026-01-15T10:45:00Z"},
        ]  # fmt: skip
        assert (await client.put(URL, json=session, headers=auth)).json()["status_code"] == 1000
        for patch in patches:
            for _ in range(2):  # every PATCH sent twice: a partner retrying
                answer = await client.patch(URL, json=patch, headers=auth)
                assert answer.json()["status_code"] == 1000, answer.text
        cdr = {
            "country_code": "BE", "party_id": "BEC", "id": "CDR1", "session_id": "S1",
            "start_date_time": "2026-01-15T10:00:00Z", "end_date_time": "2026-01-15T10:45:00Z",
            "cdr_token": session["cdr_token"], "auth_method": "WHITELIST",
            "cdr_location": {"id": "L1", "evse_uid": "E1", "connector_id": "1"},
            "currency": "EUR",
            "charging_periods": [period("2026-01-15T10:00:00Z", "ENERGY", 6.0)],
            "total_cost": {"excl_vat": 2.4}, "total_energy": 6.1, "total_time": 0.75,
            "last_updated": "2026-01-15T10:50:00Z",
        }  # fmt: skip
        answer = await client.post("/ocpi/2.2.1/cdrs", json=cdr, headers=auth)
        assert answer.json()["status_code"] == 1000, answer.text
    assert partner.result is not None
    # Location PUT, session PUT, 3 PATCHes x 2, CDR (not the registration)
    assert partner.result.ocpi_accepted == 1 + 1 + 6 + 1
    _, rows = run_query(
        settings.data_dir,
        "SELECT DISTINCT site_id, rated_power_w, timezone FROM site_registry_history "
        "WHERE station_id = 'BE*BEC*E1'",
    )
    assert rows == [("BE*BEC*L1", 22080.0, "Europe/Brussels")]

    # Registers 0, 3,000, 5,000 and 6,000 Wh at 10:00, 10:15, 10:30, 10:45, each once.
    _, rows = run_query(
        settings.data_dir,
        "SELECT strftime(ts, '%H:%M'), value FROM meter_readings "
        "WHERE station_id = 'BE*BEC*E1' AND site_id = 'BE*BEC*L1' "
        "AND measurand = 'Energy.Active.Import.Register' "
        "ORDER BY ts",
    )
    assert rows == [("10:00", 0.0), ("10:15", 3000.0), ("10:30", 5000.0), ("10:45", 6000.0)]
    # Quarter-hours: 3 kWh, 2 kWh, 1 kWh; average import power = energy / 0.25 h.
    _, rows = run_query(
        settings.data_dir,
        "SELECT strftime(interval_start, '%H:%M'), import_wh, avg_import_w "
        "FROM quarter_hour_load WHERE site_id = 'BE*BEC*L1' ORDER BY interval_start",
    )
    assert rows == [
        ("10:00", 3000.0, 12000.0),
        ("10:15", 2000.0, 8000.0),
        ("10:30", 1000.0, 4000.0),
    ]
    # The CDR bills 6.1 kWh, 100 Wh more than the session reported and the meter counted.
    _, rows = run_query(
        settings.data_dir,
        "SELECT cdr_id, cdr_energy_wh, session_energy_wh, metered_wh, difference_wh "
        "FROM cdr_energy_check",
    )
    assert rows == [("CDR1", 6100.0, 6000.0, 6000.0, 100.0)]
