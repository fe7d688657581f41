"""A DSO (shapeshifter-uftp's own DSO service and client) asks gridstream's UFTP endpoint
for flexibility over real, signed HTTP: the request becomes grid signals, and the answer is
a FlexOffer from the area's flexibility on flex.offers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import queue
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from nacl.bindings import crypto_sign_keypair
from shapeshifter_uftp import (
    FlexOffer as UftpFlexOffer,
)
from shapeshifter_uftp import (
    FlexRequestResponse,
    ShapeshifterDsoAgrClient,
    ShapeshifterDsoService,
)
from shapeshifter_uftp.exceptions import ClientTransportException

from connectors.grid.uftp import read_flex_request
from connectors.grid.uftp_agr import UftpAgr, new_key_pair
from gridstream import topics
from gridstream.broker import broker_session, free_port
from gridstream.grid_feeds import start_uftp_agr
from gridstream.producer import RecordProducer
from gridstream.records import FlexOffer
from gridstream.settings import Settings
from gridstream.signals_import import sink_until_written
from warehouse.catalog import open_catalog, refresh_views

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parents[1] / "fixtures" / "grid" / "uftp"
AGR, DSO = "agr.gridstream.example", "dso.example.com"
AREA = "ean.871685900012636543"
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
EVENING = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)  # ISP 69 of the request's day
QH = timedelta(minutes=15)


def dso_service(port: int, agr_key: Callable[[], str], agr_url: str) -> Any:
    """shapeshifter-uftp's DSO service; what it receives goes to its ``received`` queue."""
    received: queue.Queue[object] = queue.Queue()
    handlers = {name: lambda self, message, *_: received.put(message)
                for name in ShapeshifterDsoService.__abstractmethods__}  # fmt: skip
    cls = type("DsoStandIn", (ShapeshifterDsoService,), handlers)
    public, private = crypto_sign_keypair()
    service = cls(
        sender_domain=DSO,
        signing_key=base64.b64encode(private).decode(),
        key_lookup_function=lambda domain, role: agr_key(),
        endpoint_lookup_function=lambda domain, role: agr_url,
        host="127.0.0.1",
        port=port,
    )
    service.received = received
    service.public_key = base64.b64encode(public).decode()
    return service


@dataclass
class Pilot:
    agr: UftpAgr
    dso: Any
    client: ShapeshifterDsoAgrClient
    producer: RecordProducer
    settings: Settings
    finish: Callable[[], Any]


@pytest.fixture
async def pilot(tmp_path: Path) -> AsyncIterator[Pilot]:
    agr_port, dso_port = free_port(), free_port()
    agr_url = f"http://127.0.0.1:{agr_port}/shapeshifter/api/v3/message"
    keys: dict[str, str] = {}
    dso = dso_service(dso_port, lambda: keys["agr"], agr_url)
    keys["agr"] = new_key_pair(tmp_path / "agr.key")
    participants = tmp_path / "participants.yaml"
    participants.write_text(yaml.safe_dump([{
        "domain": DSO, "role": "DSO", "public_key": dso.public_key,
        "endpoint": f"http://127.0.0.1:{dso_port}/shapeshifter/api/v3/message",
    }]))  # fmt: skip
    settings = Settings(
        data_dir=tmp_path / "data", uftp_port=agr_port, uftp_domain=AGR,
        uftp_signing_key_file=tmp_path / "agr.key", uftp_participants_file=participants,
        uftp_offer_price_per_mwh="120",
    )  # type: ignore[arg-type]  # fmt: skip
    client = ShapeshifterDsoAgrClient(
        sender_domain=DSO, signing_key=dso.signing_key, recipient_domain=AGR,
        recipient_endpoint=agr_url, recipient_signing_key=keys["agr"],
    )  # fmt: skip
    client.num_delivery_attempts = 1
    with broker_session(None) as broker:
        async with (
            RecordProducer(broker.bootstrap) as producer,
            RecordProducer(broker.bootstrap, "flex-offers") as stream,
            contextlib.AsyncExitStack() as parts,
        ):
            await asyncio.to_thread(dso.run_in_thread)
            parts.push_async_callback(asyncio.to_thread, dso.stop)
            # What the stream computed for the area: 32.4 kW of reduction in two ISPs.
            await stream.publish([
                FlexOffer(offer_id=f"{AREA}|{t.isoformat()}", congestion_area=AREA,
                          interval_start=t, interval_end=t + QH, baseline_w=60_000.0,
                          reduce_w=32_400.0, increase_w=0.0, sessions=6, sites=2, revision=1,
                          computed_by="flex_offers/1", as_of=NOW)
                for t in (EVENING, EVENING + QH)
            ])  # fmt: skip
            agr = await start_uftp_agr(settings, broker.bootstrap, producer.publish, parts,
                                       lambda: NOW)  # fmt: skip
            assert agr is not None
            await wait_for(lambda: len(agr.offers.of_area(AREA)) == 2)

            async def finish() -> None:
                kept = (topics.GRID_SIGNALS, topics.DLQ, topics.UFTP_OFFERS)
                await sink_until_written(broker, settings, producer, lambda: NOW, kept)
                refresh_views(settings.data_dir)

            yield Pilot(agr, dso, client, producer, settings, finish)


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def received(dso: Any, kind: type, timeout: float = 20.0) -> Any:
    message = await asyncio.to_thread(dso.received.get, timeout=timeout)
    assert isinstance(message, kind), message
    return message


async def test_a_flex_request_is_answered_with_an_offer_and_kept_as_signals(
    pilot: Pilot,
) -> None:
    request = read_flex_request(
        (FIXTURES / "flex_request_evening_peak.constructed.xml").read_bytes()
    )
    await asyncio.to_thread(pilot.client.send_flex_request, request)

    response = await received(pilot.dso, FlexRequestResponse)
    assert (response.result, response.flex_request_message_id) == ("Accepted", request.message_id)
    offer = await received(pilot.dso, UftpFlexOffer)
    assert offer.flex_request_message_id == request.message_id
    assert offer.sender_domain == AGR
    [option] = offer.offer_options
    # ISPs 69-70 have 32.4 kW to give (asked: 10-50 kW less); 71-72 have no figures
    assert [(i.start, i.duration, i.power) for i in option.isps] == [(69, 2, -32_400)]
    assert option.price == Decimal("1.94")  # 32.4 kW x 0.5 h = 16.2 kWh x 120 EUR/MWh

    await pilot.finish()
    with open_catalog(pilot.settings.data_dir) as db:
        signals = db.execute(
            "SELECT kind, interval_start, interval_end, value FROM grid_signals "
            "WHERE scope_id = ? AND kind LIKE 'flex_request%' ORDER BY kind",
            [AREA],
        ).fetchall()
        offered = db.execute(
            "SELECT interval_start, interval_end, power_w, offer_price, dso_domain "
            "FROM uftp_flex_offers"
        ).fetchall()
    end = EVENING + 4 * QH
    assert signals == [("flex_request_max_power", EVENING, end, -10_000.0),
                       ("flex_request_min_power", EVENING, end, -50_000.0)]  # fmt: skip
    assert offered == [(EVENING, EVENING + 2 * QH, -32_400.0, 1.94, DSO)]


async def test_a_request_breaking_a_uftp_rule_is_rejected_in_uftp_terms_and_dead_lettered(
    pilot: Pilot,
) -> None:
    request = read_flex_request(
        (FIXTURES / "flex_request_evening_peak.constructed.xml").read_bytes()
    )
    request.isps[1].duration = 8  # ISPs 69-76: overlaps the available element from 73
    await asyncio.to_thread(pilot.client.send_flex_request, request)

    response = await received(pilot.dso, FlexRequestResponse)
    assert response.result == "Rejected"
    assert response.rejection_reason == "ISP conflict"
    await pilot.finish()
    with open_catalog(pilot.settings.data_dir) as db:
        letters = db.execute("SELECT source, reason, detail FROM dead_letters").fetchall()
        count = db.execute("SELECT count(*) FROM grid_signals").fetchone()
    assert letters == [(f"uftp/{DSO}", "malformed_document",
                        "UFTP ISP conflict: ISP 73 is addressed more than once")]  # fmt: skip
    assert count == (0,)


async def test_a_sender_not_among_the_participants_is_refused_before_its_signature(
    pilot: Pilot,
) -> None:
    public, private = crypto_sign_keypair()
    stranger = ShapeshifterDsoAgrClient(
        sender_domain="other-dso.example.com", signing_key=base64.b64encode(private).decode(),
        recipient_domain=AGR, recipient_endpoint=pilot.client.recipient_endpoint,
        recipient_signing_key=pilot.client.recipient_signing_key,
    )  # fmt: skip
    request = read_flex_request(
        (FIXTURES / "flex_request_evening_peak.constructed.xml").read_bytes()
    )
    with pytest.raises(ClientTransportException) as refused:
        await asyncio.to_thread(stranger.send_flex_request, request)
    assert refused.value.response.status_code == 401
    assert pilot.dso.received.empty()
