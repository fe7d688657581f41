"""A UFTP FlexOffer answers a FlexRequest with what the area's sessions can give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from lxml import etree
from shapeshifter_uftp import transport

from connectors.grid.uftp import read_flex_request
from connectors.grid.uftp_offers import answer_flex_request
from gridstream.records import FlexOffer

FIXTURES = Path(__file__).parents[3] / "fixtures" / "grid" / "uftp"
AREA = "ean.871685900012636543"
NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
REQUEST = FIXTURES / "flex_request_evening_peak.constructed.xml"
OFFER_ID = "9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4"


def area_offer(start: datetime, reduce_w: float, increase_w: float = 0.0) -> FlexOffer:
    return FlexOffer(
        offer_id=f"{AREA}|{start.isoformat()}", congestion_area=AREA, interval_start=start,
        interval_end=start + timedelta(minutes=15), baseline_w=60_000.0, reduce_w=reduce_w,
        increase_w=increase_w, sessions=6, sites=2, revision=3, computed_by="test",
        as_of=NOW,
    )  # fmt: skip


def test_each_requested_isp_is_offered_what_the_area_can_reduce_up_to_the_request() -> None:
    request = read_flex_request(REQUEST.read_bytes())
    # requested: ISPs 69..72 (16:00Z..17:00Z), MinPower -50 kW, MaxPower -10 kW
    t = datetime(2026, 12, 5, 16, tzinfo=UTC)
    q = timedelta(minutes=15)
    offers = {
        t: area_offer(t, 32_400.0),
        t + q: area_offer(t + q, 32_400.0),  # same power: one ISP element, Duration 2
        t + 2 * q: area_offer(t + 2 * q, 80_000.0),  # more than asked: capped at 50 kW
        # ISP 72 has no figures: nothing offered for it
        t - q: area_offer(t - q, 99_000.0),  # an available ISP: not offered
    }
    offer = answer_flex_request(
        request, offers, price_per_mwh=Decimal("120"), currency="EUR", message_id=OFFER_ID,
        now=NOW,
    )  # fmt: skip
    assert offer is not None
    [option] = offer.offer_options
    assert [(i.start, i.duration, i.power) for i in option.isps] == [
        (69, 2, -32_400),
        (71, 1, -50_000),
    ]
    # (32.4 + 32.4 + 50) kW x 0.25 h = 28.7 kWh = 0.0287 MWh x 120 EUR/MWh = 3.444 -> 3.44
    assert option.price == Decimal("3.44")
    assert (offer.flex_request_message_id, offer.conversation_id, offer.recipient_domain) == (
        request.message_id,
        request.conversation_id,
        "dso.example.com",
    )
    assert (offer.congestion_point, str(offer.period), offer.unsolicited) == (
        AREA,
        "2026-12-05",
        False,
    )
    assert offer.expiration_date_time == request.expiration_date_time


def test_the_offer_is_valid_uftp_by_the_specifications_schema() -> None:
    request = read_flex_request(REQUEST.read_bytes())
    t = datetime(2026, 12, 5, 16, tzinfo=UTC)
    offer = answer_flex_request(
        request, {t: area_offer(t, 12_000.0)}, price_per_mwh=Decimal("95.5"), currency="EUR",
        message_id=OFFER_ID, now=NOW,
    )  # fmt: skip
    assert offer is not None
    offer.sender_domain = "agr.gridstream.example"  # the client fills it when sending
    offer.version = "3.1.0"
    schema = etree.XMLSchema(etree.parse(str(FIXTURES / "UFTP-agr-dso.xsd")))
    document = etree.fromstring(transport.to_xml(offer).encode())
    assert schema.validate(document), schema.error_log


def test_no_offer_when_the_area_has_no_flexibility_in_the_requested_isps() -> None:
    request = read_flex_request(REQUEST.read_bytes())
    t = datetime(2026, 12, 5, 16, tzinfo=UTC)
    offer = answer_flex_request(
        request, {t: area_offer(t, 0.0, increase_w=20_000.0)}, price_per_mwh=Decimal("1"),
        currency="EUR", message_id=OFFER_ID, now=NOW,
    )  # fmt: skip
    assert offer is None
