"""ID tokens (RFID UIDs, eMAIDs) never leave the connector in clear.

Real 1.6 and 2.0.1 sessions from ``ocpp`` ChargePoints, plus refused frames carrying the
token, go through a real server; every record it publishes, every dead letter and every
log line it writes at INFO is searched for the token (case-insensitively: tokens are).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
import websockets
from ocpp import v16, v201
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from connectors.ocpp.server import OcppServer, serve_ocpp
from gridstream.records import DeadLetter, Record
from gridstream.registry import SiteRegistry

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
TIMEOUT_S = 30
RFID = "04A1B2C3D4E5F6"  # a MIFARE card UID (1.6 idTag)
EMAID = "NLTNMC00122045K"  # a contract id (2.x idToken of type eMAID)
PARENT = "FLEET0042GROUP"  # 1.6 parentIdTag / 2.x groupIdToken
TOKENS = (RFID, EMAID, PARENT)


class Recorder:
    """Keeps the JSON of everything the connector hands to the broker."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.records = 0
        self.letters = 0

    async def publish(self, records: Sequence[Record]) -> None:
        self.records += len(records)
        self.out.extend(r.model_dump_json() for r in records)

    async def dead_letter(self, letter: DeadLetter) -> None:
        self.letters += 1
        self.out.append(letter.model_dump_json())


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def server(recorder: Recorder) -> AsyncIterator[OcppServer]:
    running = await serve_ocpp(
        "127.0.0.1",
        0,
        publish=recorder.publish,
        dead_letter=recorder.dead_letter,
        registry=SiteRegistry(),
        now=lambda: NOW,
        id_token_key=b"privacy-test-key",
    )
    async with running:
        yield running


@contextlib.asynccontextmanager
async def charge_point(server: OcppServer, cls, station_id: str, subprotocol: str):
    url = f"ws://127.0.0.1:{server.port}/ocpp/{station_id}"
    async with websockets.connect(url, subprotocols=[subprotocol]) as ws:
        cp = cls(station_id, ws, response_timeout=TIMEOUT_S)
        task = asyncio.create_task(cp.start())
        try:
            yield cp, ws
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


async def session16(server: OcppServer) -> None:
    async with charge_point(server, v16.ChargePoint, "CS-16", "ocpp1.6") as (cp, ws):
        await cp.call(call16.Authorize(id_tag=RFID))
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag=RFID, meter_start=1000, timestamp="2026-01-15T17:00:00Z"
            ),
            suppress=False,
        )
        await cp.call(
            call16.StopTransaction(
                meter_stop=2500,
                timestamp="2026-01-15T18:00:00Z",
                transaction_id=started.transaction_id,
                id_tag=RFID,
                reason="Local",
                transaction_data=[
                    {
                        "timestamp": "2026-01-15T17:30:00Z",
                        "sampled_value": [{"value": "1800", "context": "Sample.Periodic"}],
                    }
                ],
            ),
            suppress=False,
        )
    # refused frames that carry the token: a bad value, a schema violation, broken JSON
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/ocpp/CS-16", subprotocols=["ocpp1.6"]
    ) as ws:
        for frame in (
            json.dumps(
                [2, "bad-1", "StartTransaction",
                 {"connectorId": 1, "idTag": RFID, "meterStart": 0, "timestamp": "soon"}]
            ),
            json.dumps(
                [2, "bad-2", "StartTransaction",
                 {"connectorId": 1, "idTag": RFID + "-TOO-LONG-FOR-1.6", "meterStart": 0,
                  "timestamp": "2026-01-15T17:00:00Z"}]
            ),
            json.dumps([2, "bad-3", "Authorize", {"idTag": RFID, "parentIdTag": PARENT}]),
            '[2, "bad-4", "Authorize", {"idTag": "' + RFID + '", ',
        ):  # fmt: skip
            await ws.send(frame)
            if not frame.endswith(", "):
                async with asyncio.timeout(TIMEOUT_S):
                    await ws.recv()


async def session201(server: OcppServer) -> None:
    id_token = {
        "id_token": EMAID,
        "type": "eMAID",
        "additional_info": [{"additional_id_token": RFID, "type": "ISO14443"}],
    }
    info = {"transaction_id": "tx-1", "charging_state": "Charging"}
    async with charge_point(server, v201.ChargePoint, "CS-2", "ocpp2.0.1") as (cp, ws):
        await cp.call(call201.Authorize(id_token=id_token))
        for seq_no, event_type in enumerate(("Started", "Updated", "Ended")):
            await cp.call(
                call201.TransactionEvent(
                    event_type=event_type,
                    timestamp="2026-01-15T17:00:00Z",
                    trigger_reason="Authorized" if seq_no == 0 else "MeterValuePeriodic",
                    seq_no=seq_no,
                    transaction_info=info,
                    evse={"id": 1, "connector_id": 1},
                    id_token=id_token,
                    meter_value=[
                        {
                            "timestamp": "2026-01-15T17:00:00Z",
                            "sampled_value": [{"value": 1000.0 + seq_no}],
                        }
                    ],
                ),
                suppress=False,
            )
        bad = [2, "bad-5", "TransactionEvent",
               {"eventType": "Updated", "timestamp": "2026-01-15T17:00:00Z",
                "triggerReason": "Authorized", "seqNo": "three",
                "transactionInfo": {"transactionId": "tx-1"},
                "idToken": {"idToken": EMAID, "type": "eMAID"}}]  # fmt: skip
        await ws.send(json.dumps(bad))
        # the ChargePoint's own reader takes the answer; wait for the dead letter instead


async def test_id_tokens_never_reach_records_dead_letters_or_info_logs(server, recorder, caplog):
    caplog.set_level(logging.INFO)
    await session16(server)
    await session201(server)
    async with asyncio.timeout(TIMEOUT_S):
        while recorder.letters < 5:
            await asyncio.sleep(0.01)

    # the sessions really went through, and the refused frames really were kept
    assert recorder.records >= 8 and recorder.letters == 5
    assert any('"id_token_hash":"' in out for out in recorder.out)
    # the connector's log (not the ChargePoints' own "ocpp" logger: that is the station)
    server_log = [r.getMessage() for r in caplog.records if not r.name.startswith("ocpp")]
    assert any("station CS-16 connected" in line for line in server_log)
    everything = "\n".join([*recorder.out, *server_log]).casefold()
    for token in TOKENS:
        assert token.casefold() not in everything, token
