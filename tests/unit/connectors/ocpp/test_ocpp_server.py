"""The OCPP server over real websockets on 127.0.0.1, driven by the ``ocpp`` package's stations.

The broker is an in-memory fake that records what it was handed; the clock is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
import websockets
from ocpp import v16, v21, v201
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.v16 import call as call16
from ocpp.v21 import call as call21
from ocpp.v201 import call as call201
from websockets.exceptions import InvalidStatus

from connectors.ocpp import OcppServer, hash_id_token, serve_ocpp
from connectors.ocpp.limits import OcppLimits
from connectors.ocpp.server import REPLACED, station_id_from_path
from gridstream.records import DeadLetter, MeterSample, Reading, Record, SiteAssignment
from gridstream.registry import SiteRegistry

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
NOW_TEXT = "2026-01-15T18:00:05.000Z"
KEY = b"server-test-id-token-key"
TIMEOUT_S = 5


class FakeBroker:
    """Records what was published and dead-lettered; can be told to fail or to be slow."""

    def __init__(self) -> None:
        self.published: list[list[Record]] = []
        self.dead: list[DeadLetter] = []
        self.fail = False
        self.delay_s = 0.0

    async def publish(self, records: Sequence[Record]) -> None:
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise ConnectionError("broker unavailable")
        self.published.append(list(records))

    async def dead_letter(self, letter: DeadLetter) -> None:
        self.dead.append(letter)


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
async def server(broker: FakeBroker) -> AsyncIterator[OcppServer]:
    registry = SiteRegistry()
    registry.assign(SiteAssignment(station_id="CS-16", site_id="SITE-A"))
    running = await serve_ocpp(
        "127.0.0.1",
        0,
        publish=broker.publish,
        dead_letter=broker.dead_letter,
        registry=registry,
        now=lambda: NOW,
        id_token_key=KEY,
        transaction_ids=itertools.count(500),
    )
    async with running:
        yield running


def url(server: OcppServer, station: str) -> str:
    return f"ws://127.0.0.1:{server.port}/ocpp/{station}"


@contextlib.asynccontextmanager
async def station(server, station_id, cls, subprotocol):
    """A real ``ocpp`` ChargePoint connected to the server, its receive loop running."""
    async with websockets.connect(url(server, station_id), subprotocols=[subprotocol]) as ws:
        cp = cls(station_id, ws, response_timeout=TIMEOUT_S)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


async def exchange(ws, frame: str) -> list:
    await ws.send(frame)
    async with asyncio.timeout(TIMEOUT_S):
        return json.loads(await ws.recv())


def register(wh: float, context: str) -> Reading:
    return Reading(
        measurand="Energy.Active.Import.Register",
        value=wh,
        unit="Wh",
        location="Outlet",
        context=context,
    )


async def test_ocpp16_session_is_answered_after_publishing_its_records(server, broker):
    async with station(server, "CS-16", v16.ChargePoint, "ocpp1.6") as cp:
        boot = await cp.call(
            call16.BootNotification(charge_point_model="M1", charge_point_vendor="V"),
            suppress=False,
        )
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp="2026-01-15T17:00:00Z"
            ),
            suppress=False,
        )
        metered = await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[
                    {
                        "timestamp": "2026-01-15T17:30:00+01:00",
                        "sampled_value": [
                            {"value": "1.5", "unit": "kWh"},
                            {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                        ],
                    }
                ],
            ),
            suppress=False,
        )
        stopped = await cp.call(
            call16.StopTransaction(
                meter_stop=2500,
                timestamp="2026-01-15T18:00:00Z",
                transaction_id=started.transaction_id,
                reason="EVDisconnected",
            ),
            suppress=False,
        )

    assert (boot.status, boot.current_time, boot.interval) == ("Accepted", NOW_TEXT, 300)
    assert (started.transaction_id, started.id_tag_info) == (500, {"status": "Accepted"})
    assert metered is not None  # MeterValues.conf is empty
    assert stopped.id_tag_info == {"status": "Accepted"}
    (boot_info,) = broker.published[0]  # the station registers itself
    assert (boot_info.station_id, boot_info.vendor, boot_info.model) == ("CS-16", "V", "M1")
    start_event, start_sample = broker.published[1]
    assert (start_event.event_type, start_event.transaction_id, start_event.site_id) == (
        "started",
        "500",
        "SITE-A",  # site from the registry
    )
    assert start_event.id_token_hash == hash_id_token("TAG-1", KEY)
    assert start_sample.readings == (register(1000.0, "Transaction.Begin"),)
    updated, sample = broker.published[2]  # a 2.x-like "updated" session event comes first
    assert (updated.event_type, updated.transaction_id, updated.meter_wh) == (
        "updated",
        "500",
        1500.0,
    )
    assert sample == MeterSample(
        ts=datetime(2026, 1, 15, 16, 30, tzinfo=UTC),  # 17:30+01:00
        station_id="CS-16",
        site_id="SITE-A",
        evse_id=1,
        connector_id=1,
        transaction_id="500",
        source="ocpp1.6",
        message_id=sample.message_id,
        received_at=NOW,
        readings=(
            register(1500.0, "Sample.Periodic"),  # 1.5 kWh
            Reading(
                measurand="Power.Active.Import",
                value=7200.0,
                unit="W",
                location="Outlet",
                context="Sample.Periodic",
            ),  # 7.2 kW
        ),
    )
    stop_event, stop_sample = broker.published[3]
    assert (stop_event.event_type, stop_event.evse_id, stop_event.stopped_reason) == (
        "ended",
        1,
        "EVDisconnected",
    )
    assert stop_sample.readings == (register(2500.0, "Transaction.End"),)
    assert len(broker.published) == 4 and broker.dead == []
    assert (server.counters.accepted, server.counters.rejected) == (4, 0)


def transaction_event(module, event_type, seq_no, **extra):
    return module.TransactionEvent(
        event_type=event_type,
        timestamp="2026-01-15T17:00:00Z",
        trigger_reason="MeterValuePeriodic",
        seq_no=seq_no,
        meter_value=[
            {
                "timestamp": "2026-01-15T17:00:00Z",
                "sampled_value": [{"value": 1.5 + seq_no, "unit_of_measure": {"unit": "kWh"}}],
            }
        ],
        **extra,
    )


@pytest.mark.parametrize(
    ("cls", "calls", "subprotocol", "operation_mode"),
    [
        (v201.ChargePoint, call201, "ocpp2.0.1", None),
        (v21.ChargePoint, call21, "ocpp2.1", "ChargingOnly"),
    ],
)
async def test_ocpp2_transaction_events_are_answered_after_publishing(
    server, broker, cls, calls, subprotocol, operation_mode
):
    info = {"transaction_id": "tx-9", "charging_state": "Charging"}
    if operation_mode:
        info["operation_mode"] = operation_mode
    async with station(server, "CS-2", cls, subprotocol) as cp:
        boot = await cp.call(
            calls.BootNotification(
                charging_station={"model": "M2", "vendor_name": "V"}, reason="PowerUp"
            ),
            suppress=False,
        )
        answers = [
            await cp.call(
                transaction_event(
                    calls,
                    "Started",
                    0,
                    transaction_info=info,
                    evse={"id": 1, "connector_id": 2},
                    id_token={"id_token": "RFID-9", "type": "ISO14443"},
                ),
                suppress=False,
            ),
            await cp.call(
                transaction_event(calls, "Updated", 1, transaction_info=info), suppress=False
            ),
            await cp.call(
                transaction_event(
                    calls, "Ended", 2, transaction_info={**info, "stopped_reason": "EVDisconnected"}
                ),
                suppress=False,
            ),
        ]

    assert (boot.status, boot.current_time, boot.interval) == ("Accepted", NOW_TEXT, 300)
    # Started named an idToken, so its answer carries idTokenInfo (Accepted: this CSMS does
    # not authorise); the others have every optional field absent.
    assert answers == [
        cls._call_result.TransactionEvent(id_token_info={"status": "Accepted"}),
        cls._call_result.TransactionEvent(),
        cls._call_result.TransactionEvent(),
    ]
    (boot_info,) = broker.published[0]
    assert (boot_info.vendor, boot_info.model, boot_info.boot_reason) == ("V", "M2", "PowerUp")
    events = [records[0] for records in broker.published[1:]]
    samples = [records[1] for records in broker.published[1:]]
    assert [
        (e.event_type, e.seq_no, e.evse_id, e.connector_id, e.operation_mode, e.stopped_reason)
        for e in events
    ] == [
        ("started", 0, 1, 2, operation_mode, None),
        ("updated", 1, 1, 2, operation_mode, None),  # evse remembered from Started
        ("ended", 2, 1, 2, operation_mode, "EVDisconnected"),
    ]
    assert events[0].id_token_hash == hash_id_token("RFID-9", KEY)
    # 1.5 / 2.5 / 3.5 kWh -> Wh
    assert [s.readings[0].value for s in samples] == [1500.0, 2500.0, 3500.0]
    assert {(s.source, s.transaction_id, s.evse_id) for s in samples} == {(subprotocol, "tx-9", 1)}


async def test_ocpp21_action_a_station_never_sends_is_answered_not_implemented(server):
    # The ocpp package's own CSMS leaves a 2.1 station hanging here (PROTOCOLS.md §7).
    # Reset is a CSMS -> station action: a station sending it gets NotImplemented.
    async with station(server, "CS-21", v21.ChargePoint, "ocpp2.1") as cp:
        with pytest.raises(OcppNotImplemented):
            await cp.call(call21.Reset(type="Immediate"), suppress=False)


async def test_ocpp21_station_actions_are_answered_as_the_package_expects(server, broker):
    # The ocpp package's ChargePoint validates each answer against its 2.1 response schema.
    async with station(server, "CS-21", v21.ChargePoint, "ocpp2.1") as cp:
        data = await cp.call(call21.DataTransfer(vendor_id="acme"), suppress=False)
        auth = await cp.call(
            call21.Authorize(id_token={"id_token": "RFID-1", "type": "ISO14443"}), suppress=False
        )
        needs = await cp.call(
            call21.NotifyEVChargingNeeds(
                evse_id=1,
                charging_needs={
                    "requested_energy_transfer": "DC_BPT",
                    "v2x_charging_parameters": {
                        "ev_min_v2x_energy_request": -12000,  # wire: evMinV2XEnergyRequest
                        "target_so_c": 80,
                    },
                },
            ),
            suppress=False,
        )
        opened = await cp.call(
            call21.OpenPeriodicEventStream(
                constant_stream_data={"id": 1, "variable_monitoring_id": 7, "params": {}}
            ),
            suppress=False,
        )
    assert (data.status, auth.id_token_info, needs.status, opened.status) == (
        "UnknownVendorId",
        {"status": "Accepted"},
        "Accepted",
        "Accepted",
    )
    (charging_needs,) = broker.published[0]
    assert (charging_needs.min_v2x_energy_wh, charging_needs.target_soc_pct) == (-12000.0, 80.0)
    assert broker.dead == []


async def test_ocpp21_send_is_published_and_never_answered(server, broker):
    opened = json.dumps(
        [2, "o-1", "OpenPeriodicEventStream",
         {"constantStreamData": {"id": 3, "variableMonitoringId": 7, "params": {}}}]
    )  # fmt: skip
    data = {"id": 3, "pending": 0, "basetime": "2026-01-15T17:00:00Z", "data": [{"t": 0, "v": "5"}]}
    send = json.dumps([6, "s-1", "NotifyPeriodicEventStream", data])
    async with websockets.connect(url(server, "CS-SEND"), subprotocols=["ocpp2.1"]) as ws:
        assert await exchange(ws, opened) == [3, "o-1", {"status": "Accepted"}]
        await ws.send(send)
        # The next frame the station gets is the Heartbeat's answer: the SEND got none.
        answer = await exchange(ws, '[2,"hb-1","Heartbeat",{}]')
    assert answer == [3, "hb-1", {"currentTime": NOW_TEXT}]
    (sample,) = broker.published[0]
    assert (sample.message_id, sample.readings[0].measurand, sample.readings[0].value) == (
        "s-1",
        "PeriodicEventStream.7",  # monitor 7 never reported: kept without a unit
        5.0,
    )
    assert broker.dead == []
    assert server.counters.accepted == 3  # open, SEND, heartbeat


async def test_invalid_value_gets_the_exact_callerror_frame_and_a_dead_letter(server, broker):
    frame = (
        '[2,"bad-1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":'
        '"2026-01-15T17:00:00Z","sampledValue":[{"value":""}]}]}]'
    )
    async with websockets.connect(url(server, "CS-RAW"), subprotocols=["ocpp1.6"]) as ws:
        answer = await exchange(ws, frame)
    assert answer == [
        4,
        "bad-1",
        "PropertyConstraintViolation",
        "meterValue[0].sampledValue[0].value: '' is not a decimal number",
        {},
    ]
    assert broker.dead == [
        DeadLetter(
            source="ocpp1.6",
            reason="bad_value",
            detail="meterValue[0].sampledValue[0].value: '' is not a decimal number",
            raw=frame,
            received_at=NOW,
            station_id="CS-RAW",
            message_id="bad-1",
        )
    ]
    assert broker.published == []
    assert (server.counters.accepted, server.counters.rejected) == (0, 1)


async def test_dead_letter_copy_has_the_id_tag_redacted(server, broker):
    frame = json.dumps(
        [
            2,
            "bad-2",
            "StartTransaction",
            {"connectorId": 1, "idTag": "Secret7", "meterStart": 0, "timestamp": "tomorrow"},
        ]
    )
    async with websockets.connect(url(server, "CS-RAW"), subprotocols=["ocpp1.6"]) as ws:
        answer = await exchange(ws, frame)
    assert answer[:3] == [4, "bad-2", "PropertyConstraintViolation"]
    (letter,) = broker.dead
    assert "Secret7" not in letter.raw
    assert letter.raw == frame.replace("Secret7", f"hmac:{hash_id_token('Secret7', KEY)}")


async def test_unanswerable_garbage_is_dead_lettered_and_the_next_call_still_answered(
    server, broker
):
    async with websockets.connect(url(server, "CS-RAW"), subprotocols=["ocpp2.0.1"]) as ws:
        await ws.send("this is not json")
        answer = await exchange(ws, '[2,"hb-1","Heartbeat",{}]')
    assert answer == [3, "hb-1", {"currentTime": NOW_TEXT}]
    assert [(d.reason, d.message_id, d.raw) for d in broker.dead] == [
        ("malformed_frame", None, "this is not json")
    ]


async def test_broker_failure_is_answered_internal_error_and_not_counted_accepted(server, broker):
    broker.fail = True
    frame = json.dumps(
        [
            2,
            "st-1",
            "StartTransaction",
            {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-15T17:00:00Z"},
        ]
    )
    async with websockets.connect(url(server, "CS-RAW"), subprotocols=["ocpp1.6"]) as ws:
        answer = await exchange(ws, frame)
    assert answer == [4, "st-1", "InternalError", "records not stored; retry later", {}]
    assert (server.counters.accepted, server.counters.publish_failed) == (0, 1)


async def test_calls_of_one_connection_are_answered_in_order_after_the_broker_ack(server, broker):
    broker.delay_s = 0.05  # the start's publish is slow; the heartbeat must still wait
    start = json.dumps(
        [
            2,
            "st-1",
            "StartTransaction",
            {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-15T17:00:00Z"},
        ]
    )
    async with websockets.connect(url(server, "CS-RAW"), subprotocols=["ocpp1.6"]) as ws:
        await ws.send(start)
        await ws.send('[2,"hb-1","Heartbeat",{}]')
        async with asyncio.timeout(TIMEOUT_S):
            first = json.loads(await ws.recv())
            published_when_answered = len(broker.published)
            second = json.loads(await ws.recv())
    assert [first[1], second[1]] == ["st-1", "hb-1"]
    assert published_when_answered == 1


async def test_a_bug_is_answered_internal_error_and_the_connection_lives_on(
    server, broker, monkeypatch
):
    def broken(frame, ctx):
        raise RuntimeError("bug")

    monkeypatch.setattr("connectors.ocpp.handler.handle_call", broken)
    async with websockets.connect(url(server, "CS-RAW"), subprotocols=["ocpp2.1"]) as ws:
        first = await exchange(ws, '[2,"hb-1","Heartbeat",{}]')
        second = await exchange(ws, '[2,"hb-2","Heartbeat",{}]')
    assert first == [4, "hb-1", "InternalError", "internal error handling Heartbeat", {}]
    assert second[:3] == [4, "hb-2", "InternalError"]
    assert [(d.reason, d.message_id) for d in broker.dead] == [
        ("internal_error", "hb-1"),
        ("internal_error", "hb-2"),
    ]
    assert server.counters.internal_errors == 2


async def test_a_naive_clock_is_refused_at_start(broker):
    with pytest.raises(ValueError, match="timezone-aware"):
        await serve_ocpp(
            "127.0.0.1",
            0,
            publish=broker.publish,
            dead_letter=broker.dead_letter,
            registry=SiteRegistry(),
            now=lambda: datetime(2026, 1, 15, 18, 0),  # noqa: DTZ001 - the point of the test
            id_token_key=KEY,
        )


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["ocpp2.1", "ocpp1.6"], "ocpp2.1"),
        (["ocpp1.6", "ocpp2.1"], "ocpp1.6"),
        (["ocpp2.0", "ocpp2.0.1"], "ocpp2.0.1"),
    ],
)
async def test_subprotocol_follows_the_stations_preference(server, offered, chosen):
    async with websockets.connect(url(server, "CS-P"), subprotocols=offered) as ws:
        assert ws.subprotocol == chosen


@pytest.mark.parametrize(
    ("path", "offered", "status"),
    [
        ("/ocpp/CS-1", ["ocpp2.0"], 400),  # no common subprotocol
        ("/ocpp/CS-1", None, 400),  # none offered
        ("/other/CS-1", ["ocpp1.6"], 404),
        ("/ocpp/", ["ocpp1.6"], 404),
    ],
)
async def test_handshake_is_refused_for_unknown_path_or_subprotocol(server, path, offered, status):
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}{path}", subprotocols=offered):
            pass
    assert caught.value.response.status_code == status


@pytest.mark.parametrize(
    ("path", "station_id"),
    [
        ("/ocpp/CS-1", "CS-1"),
        ("/ocpp/RDAM%7C123", "RDAM|123"),  # percent-encoded identity (2.1 Part 4 §3.1)
        ("/ocpp/CS-1?x=1", "CS-1"),
        ("/ocpp/a%3Ab", None),  # ':' is not allowed in an identity
        ("/ocpp/" + "x" * 49, None),  # at most 48 characters
        ("/ocpp/a/b", None),
        ("/ocpp", None),
    ],
)
def test_station_identity_is_read_from_the_path(path, station_id):
    assert station_id_from_path(path) == station_id


async def test_a_station_connecting_again_replaces_its_open_connection(server, broker):
    # A station that lost its network reconnects before its old connection is seen dead.
    async with websockets.connect(url(server, "CS-RAW"), subprotocols=["ocpp2.0.1"]) as old:
        assert (await exchange(old, '[2,"hb-1","Heartbeat",{}]'))[0] == 3
        async with websockets.connect(url(server, "CS-RAW"), subprotocols=["ocpp2.0.1"]) as new:
            async with asyncio.timeout(TIMEOUT_S):
                await old.wait_closed()
            assert (old.close_code, old.close_reason) == (1000, REPLACED)
            # The old connection ending does not take the new one's place away.
            assert (await exchange(new, '[2,"hb-2","Heartbeat",{}]'))[:2] == [3, "hb-2"]
            async with websockets.connect(
                url(server, "CS-OTHER"), subprotocols=["ocpp1.6"]
            ) as other:
                assert (await exchange(other, '[2,"hb-3","Heartbeat",{}]'))[0] == 3
            assert new.close_code is None  # another station's connection replaces nothing
    assert server.counters.connections_replaced == 1


async def test_one_unusable_value_costs_only_that_reading(server, broker):
    # an empty string beside a good register: the register is stored, the empty value is
    # dead-lettered with its reason, and the station gets its CALLRESULT
    frame = (
        '[2,"mixed-1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":'
        '"2026-01-15T17:00:00Z","sampledValue":[{"value":"1234"},'
        '{"value":"","measurand":"Power.Active.Import","unit":"W"}]}]}]'
    )
    async with websockets.connect(url(server, "CS-RAW"), subprotocols=["ocpp1.6"]) as ws:
        answer = await exchange(ws, frame)
    assert answer == [3, "mixed-1", {}]
    (published,) = broker.published  # one publish, acknowledged before the answer
    (sample,) = [r for r in published if isinstance(r, MeterSample)]
    assert [(r.measurand, r.value, r.unit) for r in sample.readings] == [
        ("Energy.Active.Import.Register", 1234.0, "Wh")
    ]
    # published with the frame's records (to the dlq topic), before the answer
    (letter,) = [r for r in published if isinstance(r, DeadLetter)]
    assert (letter.reason, letter.message_id, letter.station_id) == (
        "bad_value",
        "mixed-1",
        "CS-RAW",
    )
    assert "meterValue[0].sampledValue[1].value: '' is not a decimal number" in letter.detail
    assert json.loads(letter.raw)["sampledValue"]["measurand"] == "Power.Active.Import"


async def test_invented_station_ids_cannot_grow_the_connector_s_memory(broker):
    # Profile 0 lets any id connect: 20 invented ids, one after another, each sending a
    # Heartbeat; the connector remembers at most 3 stations, never one still connected.
    running = await serve_ocpp(
        "127.0.0.1", 0, publish=broker.publish, dead_letter=broker.dead_letter,
        registry=SiteRegistry(), now=lambda: NOW, id_token_key=KEY,
        transaction_ids=itertools.count(1),
        limits=OcppLimits(max_stations=3, messages_per_s=100.0),
    )  # fmt: skip
    async with running:
        async with websockets.connect(url(running, "KEEP"), subprotocols=["ocpp1.6"]) as kept:
            assert (await exchange(kept, '[2, "k", "Heartbeat", {}]'))[0] == 3
            for n in range(20):
                async with websockets.connect(
                    url(running, f"INVENTED-{n}"), subprotocols=["ocpp1.6"]
                ) as ws:
                    assert (await exchange(ws, f'[2, "h{n}", "Heartbeat", {{}}]'))[0] == 3
                async with asyncio.timeout(TIMEOUT_S):  # the server saw the close
                    while f"INVENTED-{n}" in running._connections:
                        await asyncio.sleep(0.01)
            assert len(running._stations) <= 3 and len(running._buckets) <= 3
            assert "KEEP" in running._stations  # connected: never forgotten
            assert running.counters.stations_forgotten >= 17
