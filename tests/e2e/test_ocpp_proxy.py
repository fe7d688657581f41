"""Proxy mode end to end: `ocpp` charge points -> gridstream's proxy -> an `ocpp` CSMS.

The CSMS on the far side is the `ocpp` package's ``ChargePoint`` with ``@on`` handlers on
a websockets server (it assigns 1.6 transaction id 4242); the stations on the near side
are `ocpp` package charge points. Both ends record every raw frame they send and receive,
so "forwarded unchanged" is asserted as list equality of the exact texts. The broker is a
recording fake here; the last test goes through ``gridstream run`` and the embedded broker.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import websockets
from ocpp import v16, v21, v201
from ocpp.exceptions import InternalError
from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request, Response

from connectors.ocpp import OcppProxy, serve_ocpp_proxy
from connectors.ocpp.auth import Authenticator
from connectors.ocpp.credentials import ScryptCost, StationCredential, hash_password
from connectors.ocpp.limits import OcppLimits
from gridstream import metrics
from gridstream.pipeline import RunOptions, run
from gridstream.records import DeadLetter, MeterSample, Record, TransactionEvent
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from warehouse.query import run_query

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
CSMS_TIME = "2026-01-15T18:00:05Z"
KEY = b"proxy-test-id-token-key"
TIMEOUT_S = 30  # a loaded machine: generous, never a timed assertion
CSMS_TX = 4242
VERSIONS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]


class Recording:
    """A websocket as an `ocpp` ChargePoint sees it, recording every raw frame both ways."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: list[str] = []
        self.sent: list[str] = []

    async def recv(self) -> str:
        message = await self.ws.recv()
        self.received.append(message)
        return message

    async def send(self, message: str) -> None:
        self.sent.append(message)
        await self.ws.send(message)


@dataclass
class Link:
    """One station connection as the far CSMS saw it."""

    station_id: str
    ws: ServerConnection
    wire: Recording
    cp: Any = None
    authorization: str | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Results of CALLs the CSMS made from ``@after`` hooks.
    after_results: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)


class FarCsms:
    """An `ocpp`-package CSMS: answers everything, can refuse actions and check passwords."""

    def __init__(self) -> None:
        self.links: dict[str, Link] = {}
        self.arrived = asyncio.Condition()
        self.refuse: set[str] = set()  # actions answered with a CALLERROR
        self.call_after: set[str] = set()  # actions after whose answer the CSMS calls back
        self.passwords: dict[str, str] = {}  # station -> password; empty: no authentication
        self.handshakes = 0  # connection attempts that reached the CSMS
        self.port = 0

    async def link(self, station_id: str) -> Link:
        async with asyncio.timeout(TIMEOUT_S), self.arrived:
            await self.arrived.wait_for(lambda: station_id in self.links)
        return self.links[station_id]

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        if not self.passwords:
            return None
        station_id = unquote(request.path.rsplit("/", 1)[-1])
        expected = f"{station_id}:{self.passwords.get(station_id)}"
        wanted = "Basic " + base64.b64encode(expected.encode()).decode()
        if request.headers.get("Authorization") != wanted:
            response = connection.respond(401, "who are you?\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="far-csms"'
            return response
        return None

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        station_id = unquote(ws.request.path.rsplit("/", 1)[-1])
        link = Link(
            station_id, ws, Recording(ws), authorization=ws.request.headers.get("Authorization")
        )
        link.cp = _CSMS_CLASSES[ws.subprotocol](station_id, link.wire, self, link)
        async with self.arrived:
            self.links[station_id] = link
            self.arrived.notify_all()
        try:
            await link.cp.start()
        except websockets.ConnectionClosed:
            pass
        finally:
            link.closed.set()


class _FarCsmsMixin:
    """What every version's CSMS class shares: refusals and calls from ``@after`` hooks."""

    def __init__(self, station_id: str, wire: Recording, csms: FarCsms, link: Link) -> None:
        super().__init__(station_id, wire, response_timeout=TIMEOUT_S)  # type: ignore[call-arg]
        self.csms = csms
        self.link = link

    def check(self, action: str) -> None:
        if action in self.csms.refuse:
            raise InternalError(description=f"{action} refused on purpose")

    def callback(self, action: str, request: Any) -> None:
        if action in self.csms.call_after:
            task = asyncio.ensure_future(self.call(request, suppress=False))  # type: ignore[attr-defined]
            task.add_done_callback(lambda t: self.link.after_results.put_nowait(t.result()))


class Csms16(_FarCsmsMixin, v16.ChargePoint):
    @on("BootNotification")
    def boot(self, **_: Any) -> Any:
        return result16.BootNotification(current_time=CSMS_TIME, interval=300, status="Accepted")

    @on("StatusNotification")
    def status(self, **_: Any) -> Any:
        return result16.StatusNotification()

    @on("Authorize")
    def authorize(self, **_: Any) -> Any:
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def start_transaction(self, **_: Any) -> Any:
        self.check("StartTransaction")
        return result16.StartTransaction(transaction_id=CSMS_TX, id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def meter_values(self, **_: Any) -> Any:
        self.check("MeterValues")
        return result16.MeterValues()

    @after("MeterValues")
    def after_meter_values(self, **_: Any) -> None:
        self.callback("MeterValues", call16.RemoteStopTransaction(transaction_id=CSMS_TX))

    @on("StopTransaction")
    def stop_transaction(self, **_: Any) -> Any:
        return result16.StopTransaction(id_tag_info={"status": "Accepted"})


def _csms2(base: type[Any], result: Any) -> type[Any]:
    class Csms2(_FarCsmsMixin, base):  # type: ignore[misc, valid-type]
        @on("BootNotification")
        def boot(self, **_: Any) -> Any:
            return result.BootNotification(current_time=CSMS_TIME, interval=300, status="Accepted")

        @on("TransactionEvent")
        def transaction_event(self, **_: Any) -> Any:
            self.check("TransactionEvent")
            return result.TransactionEvent()

        @on("MeterValues")
        def meter_values(self, **_: Any) -> Any:
            return result.MeterValues()

        @on("Heartbeat")
        def heartbeat(self, **_: Any) -> Any:
            return result.Heartbeat(current_time=CSMS_TIME)

    return Csms2


_CSMS_CLASSES: dict[str | None, type[Any]] = {
    "ocpp1.6": Csms16,
    "ocpp2.0.1": _csms2(v201.ChargePoint, result201),
    "ocpp2.1": _csms2(v21.ChargePoint, result21),
}


class Station16(v16.ChargePoint):
    @on("RemoteStartTransaction")
    def remote_start(self, **_: Any) -> Any:
        return result16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def remote_stop(self, **_: Any) -> Any:
        return result16.RemoteStopTransaction(status="Accepted")


class Station201(v201.ChargePoint):
    @on("RequestStartTransaction")
    def request_start(self, **_: Any) -> Any:
        return result201.RequestStartTransaction(status="Accepted", transaction_id="TX-2")


class Station21(v21.ChargePoint):
    @on("RequestStartTransaction")
    def request_start(self, **_: Any) -> Any:
        return result21.RequestStartTransaction(status="Accepted", transaction_id="TX-2")


class FakeBroker:
    """Records what was published and dead-lettered; can be told to fail or to be slow."""

    def __init__(self) -> None:
        self.published: list[Record] = []
        self.dead: list[DeadLetter] = []
        self.fail = False
        self.delay_s = 0.0
        #: A station's wire, to note how many frames it had received when each publish ended.
        self.watch: Recording | None = None
        self.station_had_received: list[int] = []

    async def publish(self, records: Sequence[Record]) -> None:
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise ConnectionError("broker unavailable")
        self.published.extend(records)
        if self.watch is not None:
            self.station_had_received.append(len(self.watch.received))

    async def dead_letter(self, letter: DeadLetter) -> None:
        self.dead.append(letter)

    def events(self) -> list[TransactionEvent]:
        return [r for r in self.published if isinstance(r, TransactionEvent)]

    def samples(self) -> list[MeterSample]:
        return [r for r in self.published if isinstance(r, MeterSample)]


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@contextlib.asynccontextmanager
async def far_csms(subprotocols: Sequence[str] = tuple(VERSIONS)) -> AsyncIterator[FarCsms]:
    csms = FarCsms()
    async with websockets.serve(
        csms.handler,
        "127.0.0.1",
        0,
        subprotocols=list(subprotocols),  # type: ignore[arg-type]
        process_request=csms.process_request,
    ) as server:
        csms.port = server.sockets[0].getsockname()[1]
        yield csms


@pytest.fixture
async def csms() -> AsyncIterator[FarCsms]:
    async with far_csms() as running:
        yield running


@contextlib.asynccontextmanager
async def gridstream_proxy(
    upstream_url: str, broker: FakeBroker, **bounds: Any
) -> AsyncIterator[OcppProxy]:
    proxy = await serve_ocpp_proxy(
        "127.0.0.1",
        0,
        upstream_url=upstream_url,
        publish=broker.publish,
        dead_letter=broker.dead_letter,
        registry=SiteRegistry(),
        now=lambda: NOW,
        id_token_key=KEY,
        **bounds,
    )
    async with proxy:
        yield proxy


@pytest.fixture
async def proxy(csms: FarCsms, broker: FakeBroker) -> AsyncIterator[OcppProxy]:
    async with gridstream_proxy(f"ws://127.0.0.1:{csms.port}/ocpp", broker) as running:
        yield running


@dataclass
class Near:
    """A station connected through the proxy: its ChargePoint, its wire and websocket."""

    cp: Any
    wire: Recording
    ws: Any


@contextlib.asynccontextmanager
async def station(
    proxy: OcppProxy,
    station_id: str,
    cls: type[Any],
    subprotocols: Sequence[str],
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Near]:
    """An `ocpp` ChargePoint connected to the proxy, its receive loop running."""
    url = f"ws://127.0.0.1:{proxy.port}/ocpp/{station_id}"
    async with websockets.connect(
        url,
        subprotocols=list(subprotocols),  # type: ignore[arg-type]
        additional_headers=headers,
    ) as ws:
        wire = Recording(ws)
        cp = cls(station_id, wire, response_timeout=TIMEOUT_S)
        task = asyncio.create_task(cp.start())
        try:
            yield Near(cp, wire, ws)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


def assert_forwarded_unchanged(near: Near, far: Link) -> None:
    """Each side received exactly what the other sent: same texts, ids and order."""
    assert far.wire.received == near.wire.sent
    assert near.wire.received == far.wire.sent


def register_16(wh: int, ts: str) -> dict[str, Any]:
    return {
        "timestamp": ts,
        "sampledValue": [
            {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        ],
    }


def import_register(sample: MeterSample) -> float:
    [reading] = [r for r in sample.readings if r.measurand == "Energy.Active.Import.Register"]
    return reading.value


async def test_ocpp16_session_is_forwarded_unchanged_and_tapped_with_the_csms_transaction_id(
    csms: FarCsms, proxy: OcppProxy, broker: FakeBroker
) -> None:
    def seen(name: str) -> float:
        return metrics.sample_values(name, {"protocol": "ocpp1.6", "action": "Authorize"}) or 0.0

    frames, answers = seen("gridstream_messages_in_total"), seen("gridstream_answer_seconds_count")
    async with station(proxy, "CS-16", Station16, ["ocpp1.6"]) as near:
        await near.cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await near.cp.call(call16.Authorize(id_tag="TAG-1"), suppress=False)
        # the station's frame is counted, and the CSMS's answer to it timed
        assert seen("gridstream_messages_in_total") == frames + 1
        assert seen("gridstream_answer_seconds_count") == answers + 1
        started = await near.cp.call(
            call16.StartTransaction(
                connector_id=2, id_tag="TAG-1", meter_start=1000, timestamp="2026-01-15T17:00:00Z"
            ),
            suppress=False,
        )
        await near.cp.call(
            call16.MeterValues(
                connector_id=2,
                transaction_id=started.transaction_id,
                meter_value=[register_16(1500, "2026-01-15T17:15:00Z")],
            ),
            suppress=False,
        )
        await near.cp.call(
            call16.StopTransaction(
                meter_stop=2500, timestamp="2026-01-15T17:30:00Z", transaction_id=CSMS_TX
            ),
            suppress=False,
        )
        far = await csms.link("CS-16")
        assert_forwarded_unchanged(near, far)

    assert started.transaction_id == CSMS_TX  # the station got the CSMS's answer
    events = broker.events()
    # A MeterValues in a transaction gives an "updated" event too (one session lifecycle).
    assert [(e.event_type, e.transaction_id) for e in events] == [
        ("started", "4242"),
        ("updated", "4242"),
        ("ended", "4242"),
    ]
    started_event, ended_event = events[0], events[-1]
    # All carry the CSMS's id; the stop knows its connector from that id alone, so the
    # tap fed the CSMS's id into the station's session memory.
    assert ended_event.evse_id == 2
    # 2500 Wh at the stop - 1000 Wh at the start = 1500 Wh charged.
    assert ended_event.meter_wh - started_event.meter_wh == 1500
    assert [(s.transaction_id, import_register(s)) for s in broker.samples()] == [
        ("4242", 1000.0),
        ("4242", 1500.0),
        ("4242", 2500.0),
    ]
    assert broker.dead == []
    assert proxy.counters.accepted == 5  # Boot, Authorize, Start, MeterValues, Stop


async def test_a_call_from_the_csms_reaches_the_station_and_its_answer_reaches_the_csms(
    csms: FarCsms, proxy: OcppProxy, broker: FakeBroker
) -> None:
    async with station(proxy, "CS-16", Station16, ["ocpp1.6"]) as near:
        far = await csms.link("CS-16")
        answer = await far.cp.call(
            call16.RemoteStartTransaction(id_tag="TAG-9", connector_id=1), suppress=False
        )
        assert answer.status == "Accepted"
        assert_forwarded_unchanged(near, far)
    [remote_start] = [json.loads(f) for f in near.wire.received]
    assert remote_start[2:] == ["RemoteStartTransaction", {"idTag": "TAG-9", "connectorId": 1}]
    [station_answer] = [json.loads(f) for f in far.wire.received]
    assert station_answer == [3, remote_start[1], {"status": "Accepted"}]
    assert broker.published == []  # the CSMS's calls carry no meter data


@pytest.mark.parametrize(
    ("version", "cls", "calls"),
    [("ocpp2.0.1", Station201, call201), ("ocpp2.1", Station21, call21)],
)
async def test_ocpp2_transaction_is_forwarded_unchanged_and_tapped(
    csms: FarCsms, proxy: OcppProxy, broker: FakeBroker, version: str, cls: Any, calls: Any
) -> None:
    def event(event_type: str, seq_no: int, wh: int, ts: str, **extra: Any) -> Any:
        context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}
        return calls.TransactionEvent(
            event_type=event_type,
            timestamp=ts,
            trigger_reason="RemoteStart" if event_type == "Started" else "MeterValuePeriodic",
            seq_no=seq_no,
            transaction_info={"transactionId": "TX-2"},
            meter_value=[
                {
                    "timestamp": ts,
                    "sampledValue": [
                        {
                            "value": wh,
                            "measurand": "Energy.Active.Import.Register",
                            "context": context.get(event_type, "Sample.Periodic"),
                            "unitOfMeasure": {"unit": "Wh"},
                        }
                    ],
                }
            ],
            **extra,
        )

    async with station(proxy, "CS-2", cls, [version]) as near:
        await near.cp.call(
            calls.BootNotification(
                charging_station={"model": "M", "vendorName": "V"}, reason="PowerUp"
            )
        )
        far = await csms.link("CS-2")
        remote = await far.cp.call(
            calls.RequestStartTransaction(
                id_token={"idToken": "TAG-2", "type": "ISO14443"}, remote_start_id=7
            ),
            suppress=False,
        )
        assert remote.status == "Accepted"
        ts = ["2026-01-15T17:00:00Z", "2026-01-15T17:15:00Z", "2026-01-15T17:30:00Z"]
        await near.cp.call(
            event("Started", 0, 100, ts[0], evse={"id": 1, "connectorId": 1}), suppress=False
        )
        await near.cp.call(event("Updated", 1, 600, ts[1]), suppress=False)
        await near.cp.call(event("Ended", 2, 1100, ts[2]), suppress=False)
        assert_forwarded_unchanged(near, far)

    events = broker.events()
    assert [(e.event_type, e.transaction_id, e.evse_id, e.meter_wh) for e in events] == [
        ("started", "TX-2", 1, 100.0),
        ("updated", "TX-2", 1, 600.0),
        ("ended", "TX-2", 1, 1100.0),
    ]
    assert {e.source for e in events} == {version}
    assert proxy.counters.accepted == 4  # Boot and three TransactionEvents


async def test_a_callerror_from_the_csms_taps_nothing_and_reaches_the_station_unchanged(
    csms: FarCsms, proxy: OcppProxy, broker: FakeBroker
) -> None:
    csms.refuse.add("MeterValues")
    async with station(proxy, "CS-16", Station16, ["ocpp1.6"]) as near:
        with pytest.raises(InternalError):
            await near.cp.call(
                call16.MeterValues(
                    connector_id=1, meter_value=[register_16(1500, "2026-01-15T17:15:00Z")]
                ),
                suppress=False,
            )
        far = await csms.link("CS-16")
        assert_forwarded_unchanged(near, far)
    assert json.loads(near.wire.received[-1])[:3] == [
        4,
        json.loads(near.wire.sent[-1])[1],
        "InternalError",
    ]
    assert broker.published == []
    assert broker.dead == []
    assert proxy.counters.refused_by_csms == 1


async def test_frames_the_core_rejects_are_forwarded_unchanged_and_dead_lettered(
    csms: FarCsms, proxy: OcppProxy, broker: FakeBroker
) -> None:
    garbage = "this is not OCPP"
    # "value" must be a decimal string: "" passes the schema (the CSMS takes it) but is
    # not a reading (PROTOCOLS.md §7).
    bad = json.dumps(
        [
            2,
            "bad-1",
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [
                    {"timestamp": "2026-01-15T17:00:00Z", "sampledValue": [{"value": ""}]}
                ],
            },
        ]
    )
    url = f"ws://127.0.0.1:{proxy.port}/ocpp/CS-RAW"
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(garbage)
        await ws.send(bad)
        async with asyncio.timeout(TIMEOUT_S):
            answer = await ws.recv()
        far = await csms.link("CS-RAW")
    assert far.wire.received == [garbage, bad]
    assert far.wire.sent == [answer]
    assert json.loads(answer) == [3, "bad-1", {}]  # the CSMS decided: it took it
    assert [(d.reason, d.message_id, d.raw) for d in broker.dead] == [
        ("malformed_frame", None, garbage),
        ("bad_value", "bad-1", bad),
    ]
    assert broker.published == []
    assert proxy.counters.rejected == 2


async def test_a_21_send_is_forwarded_and_tapped_though_nobody_answers_it(
    csms: FarCsms, proxy: OcppProxy, broker: FakeBroker
) -> None:
    data = {"id": 3, "pending": 0, "basetime": "2026-01-15T17:00:00Z", "data": [{"t": 0, "v": "7"}]}
    send = json.dumps([6, "s-1", "NotifyPeriodicEventStream", data])
    heartbeat = json.dumps([2, "h-1", "Heartbeat", {}])
    url = f"ws://127.0.0.1:{proxy.port}/ocpp/CS-21"
    async with websockets.connect(url, subprotocols=["ocpp2.1"]) as ws:  # type: ignore[list-item]
        await ws.send(send)
        await ws.send(heartbeat)  # answered only after the SEND went through
        async with asyncio.timeout(TIMEOUT_S):
            answer = json.loads(await ws.recv())
        far = await csms.link("CS-21")
    assert answer[:2] == [3, "h-1"]
    assert far.wire.received == [send, heartbeat]
    [sample] = broker.samples()
    assert (sample.message_id, sample.readings[0].value) == ("s-1", 7.0)


async def test_a_failed_publish_still_forwards_the_answer_and_dead_letters_the_call(
    csms: FarCsms, proxy: OcppProxy, broker: FakeBroker
) -> None:
    broker.fail = True
    async with station(proxy, "CS-16", Station16, ["ocpp1.6"]) as near:
        started = await near.cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-1", meter_start=0, timestamp="2026-01-15T17:00:00Z"
            ),
            suppress=False,
        )
        far = await csms.link("CS-16")
        assert_forwarded_unchanged(near, far)
    assert started.transaction_id == CSMS_TX
    [letter] = broker.dead
    assert (letter.reason, letter.message_id) == (
        "broker_unavailable",
        json.loads(near.wire.sent[0])[1],
    )
    assert "TAG-1" not in letter.raw  # id tokens are pseudonymised in the dead letter too
    assert proxy.counters.publish_failed == 1


async def test_a_slow_tap_holds_the_answer_back_and_does_not_reorder_the_csms_frames(
    csms: FarCsms, proxy: OcppProxy, broker: FakeBroker
) -> None:
    # The CSMS calls the station right after answering MeterValues; the tap is still
    # publishing that answer's records, and the CALL must not overtake the answer.
    broker.delay_s = 0.3
    csms.call_after.add("MeterValues")
    async with station(proxy, "CS-16", Station16, ["ocpp1.6"]) as near:
        broker.watch = near.wire
        await near.cp.call(
            call16.MeterValues(
                connector_id=1, meter_value=[register_16(1500, "2026-01-15T17:15:00Z")]
            ),
            suppress=False,
        )
        far = await csms.link("CS-16")
        async with asyncio.timeout(TIMEOUT_S):
            stop_answer = await far.after_results.get()
        assert stop_answer.status == "Accepted"
        assert_forwarded_unchanged(near, far)
    kinds = [json.loads(f)[0] for f in near.wire.received]
    assert kinds == [3, 2]  # the MeterValues answer, then the CSMS's RemoteStopTransaction
    assert len(broker.samples()) == 1
    # Stored before the station had its answer: it never believes in a record we lost.
    assert broker.station_had_received == [0]


async def test_the_csms_chooses_the_subprotocol_from_the_stations_offer(
    broker: FakeBroker,
) -> None:
    async with (
        far_csms(subprotocols=["ocpp1.6"]) as csms,
        gridstream_proxy(f"ws://127.0.0.1:{csms.port}/ocpp", broker) as proxy,
        station(proxy, "CS-X", Station21, ["ocpp2.1", "ocpp1.6"]) as near,
    ):
        far = await csms.link("CS-X")
        assert near.ws.subprotocol == far.ws.subprotocol == "ocpp1.6"


async def test_the_station_identity_is_percent_encoded_towards_the_csms(
    csms: FarCsms, proxy: OcppProxy
) -> None:
    async with station(proxy, "RDAM%7C123", Station16, ["ocpp1.6"]):
        far = await csms.link("RDAM|123")
    assert far.ws.request is not None
    assert far.ws.request.path == "/ocpp/RDAM%7C123"


async def test_the_stations_credentials_reach_the_csms_which_decides(
    csms: FarCsms, proxy: OcppProxy
) -> None:
    csms.passwords["CS-AUTH"] = "s3cret"
    good = "Basic " + base64.b64encode(b"CS-AUTH:s3cret").decode()
    async with station(proxy, "CS-AUTH", Station16, ["ocpp1.6"], {"Authorization": good}):
        far = await csms.link("CS-AUTH")
        assert far.authorization == good
    wrong = "Basic " + base64.b64encode(b"CS-AUTH:guess").decode()
    with pytest.raises(InvalidStatus) as refused:
        async with station(proxy, "CS-AUTH", Station16, ["ocpp1.6"], {"Authorization": wrong}):
            pass
    # The CSMS's own refusal is passed on, so the station knows its password is wrong.
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"] == 'Basic realm="far-csms"'


async def test_the_station_is_refused_with_503_while_the_csms_is_down(broker: FakeBroker) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed when the block ends: nothing listens there
    async with gridstream_proxy(f"ws://127.0.0.1:{port}/ocpp", broker) as proxy:
        with pytest.raises(InvalidStatus) as refused:
            async with station(proxy, "CS-16", Station16, ["ocpp1.6"]):
                pass
        assert refused.value.response.status_code == 503
        assert proxy.counters.handshakes_refused == 1


async def test_a_station_closing_closes_the_csms_side_with_the_same_code(
    csms: FarCsms, proxy: OcppProxy
) -> None:
    async with station(proxy, "CS-16", Station16, ["ocpp1.6"]) as near:
        far = await csms.link("CS-16")
        await near.ws.close(4001, "going home")
        async with asyncio.timeout(TIMEOUT_S):
            await far.closed.wait()
    assert (far.ws.close_code, far.ws.close_reason) == (4001, "going home")


async def test_the_csms_closing_closes_the_station_with_the_same_code(
    csms: FarCsms, proxy: OcppProxy
) -> None:
    async with station(proxy, "CS-16", Station16, ["ocpp1.6"]) as near:
        far = await csms.link("CS-16")
        await far.ws.close(1012, "restarting")
        async with asyncio.timeout(TIMEOUT_S):
            await near.ws.wait_closed()
    assert (near.ws.close_code, near.ws.close_reason) == (1012, "restarting")


async def test_a_dropped_station_drops_the_csms_side(csms: FarCsms, proxy: OcppProxy) -> None:
    async with station(proxy, "CS-16", Station16, ["ocpp1.6"]) as near:
        far = await csms.link("CS-16")
        near.ws.transport.abort()  # no close frame: the TCP connection just ends
        async with asyncio.timeout(TIMEOUT_S):
            await far.closed.wait()
    assert far.ws.close_code == 1006  # abnormal closure, as if the station were direct


async def test_gridstream_run_in_proxy_mode_stores_the_session_under_the_csms_id(
    csms: FarCsms, tmp_path: Path
) -> None:
    """The real wiring: ``gridstream run`` with the upstream setting, the embedded broker,
    the worker and the warehouse sink."""
    settings = Settings(
        kafka_bootstrap=None,
        ocpp_port=0,
        ocpi_port=0,
        data_dir=tmp_path / "data",
        sink_flush_interval_s=0.5,
        ocpp_upstream_url=f"ws://127.0.0.1:{csms.port}/ocpp",
    )
    stop = asyncio.Event()

    async def drive(port: int) -> None:
        try:
            url = f"ws://127.0.0.1:{port}/ocpp/CS-PROXY"
            async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
                cp = Station16("CS-PROXY", ws, response_timeout=TIMEOUT_S)
                task = asyncio.create_task(cp.start())
                started = await cp.call(
                    call16.StartTransaction(
                        connector_id=1,
                        id_tag="T",
                        meter_start=1000,
                        timestamp="2026-01-15T17:00:00Z",
                    ),
                    suppress=False,
                )
                await cp.call(
                    call16.MeterValues(
                        connector_id=1,
                        transaction_id=started.transaction_id,
                        meter_value=[register_16(1500, "2026-01-15T17:15:00Z")],
                    ),
                    suppress=False,
                )
                await cp.call(
                    call16.StopTransaction(
                        meter_stop=2500,
                        timestamp="2026-01-15T17:30:00Z",
                        transaction_id=started.transaction_id,
                    ),
                    suppress=False,
                )
                task.cancel()
        finally:
            stop.set()

    tasks: list[asyncio.Task[None]] = []
    result = await run(
        settings,
        RunOptions(simulator=False),
        stop=stop,
        on_ready=lambda r: tasks.append(asyncio.create_task(drive(r.ocpp_port))),
    )
    await asyncio.gather(*tasks)

    _, rows = run_query(
        settings.data_dir, "SELECT station_id, transaction_id, energy_wh FROM sessions"
    )
    # 2500 Wh at the stop - 1000 Wh at the start, under the id the CSMS gave.
    assert rows == [("CS-PROXY", "4242", 1500.0)]
    assert result.messages_accepted == 3
    far = await csms.link("CS-PROXY")
    assert [json.loads(f)[2] for f in far.wire.received] == [
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    ]


async def test_with_credentials_here_a_stranger_never_reaches_the_csms(
    csms: FarCsms, broker: FakeBroker
) -> None:
    cost = ScryptCost(log2_n=4)
    known = StationCredential("CS-16", 1, hash_password(b"s3cret", b"s" * 16, cost))
    authenticator = Authenticator({"CS-16": known}, secret=b"proxy-test-secret-32-bytes!!")
    upstream = f"ws://127.0.0.1:{csms.port}/ocpp"
    async with gridstream_proxy(upstream, broker, authenticator=authenticator) as proxy:
        for who, password in (("CS-16", "guess"), ("INVENTED", "x")):
            header = "Basic " + base64.b64encode(f"{who}:{password}".encode()).decode()
            with pytest.raises(InvalidStatus) as refused:
                async with station(proxy, who, Station16, ["ocpp1.6"], {"Authorization": header}):
                    pass
            assert refused.value.response.status_code == 401
        assert csms.handshakes == 0  # no CSMS connection was opened for either
        good = "Basic " + base64.b64encode(b"CS-16:s3cret").decode()
        async with station(proxy, "CS-16", Station16, ["ocpp1.6"], {"Authorization": good}):
            await csms.link("CS-16")
        assert csms.handshakes == 1


async def test_a_frame_over_the_size_limit_closes_the_station_and_never_reaches_the_csms(
    csms: FarCsms, broker: FakeBroker
) -> None:
    upstream = f"ws://127.0.0.1:{csms.port}/ocpp"
    limits = OcppLimits(max_message_bytes=2048)
    async with gridstream_proxy(upstream, broker, limits=limits) as proxy:
        async with station(proxy, "CS-16", Station16, ["ocpp1.6"]) as near:
            far = await csms.link("CS-16")
            await near.ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "x" * 4096}]))
            async with asyncio.timeout(TIMEOUT_S):
                await near.ws.wait_closed()
            assert near.ws.close_code == 1009
    assert far.wire.received == []


async def test_connections_beyond_the_cap_get_503_before_the_csms_is_contacted(
    csms: FarCsms, broker: FakeBroker
) -> None:
    upstream = f"ws://127.0.0.1:{csms.port}/ocpp"
    async with gridstream_proxy(upstream, broker, limits=OcppLimits(max_connections=1)) as proxy:
        async with station(proxy, "CS-1", Station16, ["ocpp1.6"]):
            await csms.link("CS-1")
            with pytest.raises(InvalidStatus) as refused:
                async with station(proxy, "CS-2", Station16, ["ocpp1.6"]):
                    pass
            assert refused.value.response.status_code == 503
        assert csms.handshakes == 1
