"""End to end: an OCPI partner registers, pushes a session in PATCHes and its CDR over real
HTTP to `gridstream run`; the readings reach meter_readings, quarter_hour_load and the CDR
comparison view through the embedded broker, the Faust worker and the sink."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
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


async def test_a_partner_registers_and_its_session_reaches_the_warehouse(tmp_path: Path) -> None:
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
    finally:
        stop.set()
        result = await asyncio.wait_for(task, 180)
    assert result.ocpi_accepted == 1 + 6 + 1  # PUT, 3 PATCHes x 2, CDR (not the registration)

    # Registers 0, 3,000, 5,000 and 6,000 Wh at 10:00, 10:15, 10:30, 10:45, each once.
    _, rows = run_query(
        settings.data_dir,
        "SELECT strftime(ts, '%H:%M'), value FROM meter_readings "
        "WHERE station_id = 'BE*BEC*E1' AND measurand = 'Energy.Active.Import.Register' "
        "ORDER BY ts",
    )
    assert rows == [("10:00", 0.0), ("10:15", 3000.0), ("10:30", 5000.0), ("10:45", 6000.0)]
    # Quarter-hours: 3 kWh, 2 kWh, 1 kWh; average import power = energy / 0.25 h.
    _, rows = run_query(
        settings.data_dir,
        "SELECT strftime(interval_start, '%H:%M'), import_wh, avg_import_w "
        "FROM quarter_hour_load WHERE site_id = 'BE*BEC*E1' ORDER BY interval_start",
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
