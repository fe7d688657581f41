"""Exactly once per reading at the connector, over real websockets on 127.0.0.1.

A station that did not get an answer sends the CALL again (same id), or re-sends its queue
under new ids; either way the broker must see the records once and the station the same
answer. Raw frames where the exact frame matters, ``ocpp`` package stations elsewhere; the
broker is an in-memory fake, the clock fixed.
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
from ocpp import v201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201

from connectors.ocpp import OcppServer, serve_ocpp
from gridstream.records import DeadLetter, MeterSample, Record, TransactionEvent
from gridstream.registry import SiteRegistry

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
TIMEOUT_S = 10


class FakeBroker:
    """Records what was published; can be told to fail the next publish."""

    def __init__(self) -> None:
        self.published: list[list[Record]] = []
        self.fail_next = False
        self.changed = asyncio.Event()

    async def publish(self, records: Sequence[Record]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("broker unavailable")
        self.published.append(list(records))
        self.changed.set()

    async def dead_letter(self, letter: DeadLetter) -> None:
        raise AssertionError(f"nothing here should be rejected: {letter}")

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT_S):
            while len(self.published) < count:
                self.changed.clear()
                await self.changed.wait()

    def samples(self) -> list[MeterSample]:
        return [r for batch in self.published for r in batch if isinstance(r, MeterSample)]

    def events(self) -> list[TransactionEvent]:
        return [r for batch in self.published for r in batch if isinstance(r, TransactionEvent)]


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
async def server(broker: FakeBroker) -> AsyncIterator[OcppServer]:
    running = await serve_ocpp(
        "127.0.0.1",
        0,
        publish=broker.publish,
        dead_letter=broker.dead_letter,
        registry=SiteRegistry(),
        now=lambda: NOW,
        id_token_key=b"replay-test-id-token-key",
        transaction_ids=itertools.count(500),
    )
    async with running:
        yield running


def connect(server: OcppServer, station: str, subprotocol: str = "ocpp1.6"):
    url = f"ws://127.0.0.1:{server.port}/ocpp/{station}"
    return websockets.connect(url, subprotocols=[subprotocol])


async def exchange(ws, frame: str) -> list:
    await ws.send(frame)
    async with asyncio.timeout(TIMEOUT_S):
        return json.loads(await ws.recv())


def call(message_id: str, action: str, payload: dict) -> str:
    return json.dumps([2, message_id, action, payload])


def meter_values(message_id: str, *minutes: int) -> str:
    """A 1.6 MeterValues frame, no transaction: one import register sample per minute."""
    entries = [
        {"timestamp": f"2026-01-15T17:{m:02d}:00Z", "sampledValue": [{"value": str(1000 + m)}]}
        for m in minutes
    ]
    return call(message_id, "MeterValues", {"connectorId": 1, "meterValue": entries})


async def test_a_retransmitted_call_gets_the_same_answer_and_is_published_once(server, broker):
    start = call(
        "st-1",
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-15T17:00:00Z"},
    )
    async with connect(server, "CS-R") as ws:
        first = await exchange(ws, start)
        again = await exchange(ws, start)
        values = await exchange(ws, meter_values("mv-1", 1, 2))
        values_again = await exchange(ws, meter_values("mv-1", 1, 2))

    # The same transaction id both times: one session, not two.
    assert (
        first == again == [3, "st-1", {"transactionId": 500, "idTagInfo": {"status": "Accepted"}}]
    )
    assert values == values_again == [3, "mv-1", {}]
    assert len(broker.published) == 2
    assert [e.event_type for e in broker.events()] == ["started"]
    # the Transaction.Begin register at 17:00, then the two periodic samples
    assert [s.ts.minute for s in broker.samples()] == [0, 1, 2]
    counters = server.counters
    assert (counters.accepted, counters.duplicates, counters.duplicate_records) == (2, 2, 0)


async def test_a_call_resent_after_the_connection_dropped_is_not_published_again(server, broker):
    frame = meter_values("mv-9", 5)
    async with connect(server, "CS-DROP") as ws:
        await ws.send(frame)
        await broker.wait_for(1)  # published; the answer never read: the link goes down
    async with connect(server, "CS-DROP") as ws:
        assert await exchange(ws, frame) == [3, "mv-9", {}]
    assert len(broker.published) == 1
    assert server.counters.duplicates == 1


async def test_a_call_whose_publish_failed_is_published_for_real_when_retried(server, broker):
    frame = meter_values("mv-2", 3)
    broker.fail_next = True
    async with connect(server, "CS-FAIL") as ws:
        failed = await exchange(ws, frame)
        retried = await exchange(ws, frame)
    assert failed[:3] == [4, "mv-2", "InternalError"]
    assert retried == [3, "mv-2", {}]
    assert [s.ts.minute for s in broker.samples()] == [3]
    assert (server.counters.publish_failed, server.counters.duplicates) == (1, 0)


async def test_an_offline_batch_resent_under_new_ids_publishes_only_new_samples(server, broker):
    async with connect(server, "CS-BATCH") as ws:
        answers = [
            await exchange(ws, meter_values("q-1", 10, 11, 12)),
            # The station re-sends its whole queue with new ids, then a new sample.
            await exchange(ws, meter_values("q-2", 10, 11, 12)),
            await exchange(ws, meter_values("q-3", 12, 13)),
        ]
    assert answers == [[3, "q-1", {}], [3, "q-2", {}], [3, "q-3", {}]]  # every one answered
    assert [s.ts.minute for s in broker.samples()] == [10, 11, 12, 13]
    assert [s.message_id for s in broker.samples()] == ["q-1", "q-1", "q-1", "q-3"]
    assert (server.counters.accepted, server.counters.duplicate_records) == (3, 4)


async def test_a_stop_resent_under_a_new_id_ends_the_session_once(server, broker):
    start = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-15T17:00:00Z"}
    stop = {"transactionId": 500, "meterStop": 900, "timestamp": "2026-01-15T17:30:00Z"}
    async with connect(server, "CS-STOP") as ws:
        await exchange(ws, call("st-1", "StartTransaction", start))
        first = await exchange(ws, call("sp-1", "StopTransaction", stop))
        again = await exchange(ws, call("sp-2", "StopTransaction", stop))
    assert first[:2] == [3, "sp-1"] and again == [3, "sp-2", first[2]]
    assert [e.event_type for e in broker.events()] == ["started", "ended"]
    assert [s.readings[0].value for s in broker.samples()] == [0.0, 900.0]
    assert (server.counters.duplicates, server.counters.duplicate_records) == (0, 2)


def transaction_event(seq_no: int, **info: str) -> call201.TransactionEvent:
    return call201.TransactionEvent(
        event_type="Started" if seq_no == 0 else "Updated",
        timestamp=f"2026-01-15T17:{seq_no:02d}:00Z",
        trigger_reason="MeterValuePeriodic",
        seq_no=seq_no,
        transaction_info={"transaction_id": "tx-5", "charging_state": "Charging", **info},
        evse={"id": 1, "connector_id": 1},
        meter_value=[
            {
                "timestamp": f"2026-01-15T17:{seq_no:02d}:00Z",
                "sampled_value": [{"value": 100.0 * seq_no}],
            }
        ],
    )


@contextlib.asynccontextmanager
async def station201(server: OcppServer, station_id: str) -> AsyncIterator[v201.ChargePoint]:
    """A real ``ocpp`` 2.0.1 ChargePoint (a new message id per call), receive loop running."""
    async with connect(server, station_id, "ocpp2.0.1") as ws:
        cp = v201.ChargePoint(station_id, ws, response_timeout=TIMEOUT_S)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


async def test_a_transaction_event_resent_under_a_new_id_is_answered_and_not_published(
    server, broker
):
    async with station201(server, "CS-2X") as cp:
        answers = [
            await cp.call(transaction_event(0), suppress=False),
            await cp.call(transaction_event(1), suppress=False),
            await cp.call(transaction_event(1), suppress=False),  # the offline queue again
        ]
    # TransactionEventResponse {} each time, the replayed one included.
    assert answers == [call_result201.TransactionEvent()] * 3
    assert [(e.seq_no, e.seq_gap) for e in broker.events()] == [(0, 0), (1, 0)]
    assert [s.readings[0].value for s in broker.samples()] == [0.0, 100.0]
    assert (server.counters.accepted, server.counters.duplicates) == (2, 1)


async def test_same_seq_no_with_another_payload_is_kept_and_counted(server, broker):
    async with station201(server, "CS-BUGGY") as cp:
        await cp.call(transaction_event(0), suppress=False)
        await cp.call(transaction_event(1), suppress=False)
        await cp.call(transaction_event(1, charging_state="SuspendedEV"), suppress=False)
        await cp.call(transaction_event(4), suppress=False)
    assert [(e.seq_no, e.charging_state, e.seq_gap) for e in broker.events()] == [
        (0, "Charging", 0),
        (1, "Charging", 0),
        (1, "SuspendedEV", 0),  # a buggy station's second seqNo 1: both kept
        (4, "Charging", 2),  # seqNos 2 and 3 never came
    ]
    # The repeated event's sample (seqNo 1, 100 Wh at 17:01) is the same reading: stored once.
    assert [s.readings[0].value for s in broker.samples()] == [0.0, 100.0, 400.0]
    counters = server.counters
    assert (counters.seq_conflicts, counters.duplicates, counters.duplicate_records) == (1, 0, 1)
