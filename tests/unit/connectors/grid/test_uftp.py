"""UFTP FlexRequests as grid signals: ISPs in UTC on every kind of day, and the message rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree

from connectors.grid.formats import detect_format, parse_as
from connectors.grid.uftp import isp_grid, parse_flex_requests

FIXTURES = Path(__file__).parents[3] / "fixtures" / "grid" / "uftp"
REQUEST = FIXTURES / "flex_request_evening_peak.constructed.xml"
RECEIVED = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def request_xml(
    *isps: str,
    isp_duration: str = "PT15M",
    period: str = "2026-12-05",
    time_zone: str = "Europe/Amsterdam",
) -> bytes:
    return (
        '<FlexRequest Version="3.1.0" SenderDomain="dso.example.com" '
        'RecipientDomain="agr.gridstream.example" TimeStamp="2026-12-04T09:00:00+01:00" '
        'MessageID="6f1d7a2e-3c4b-4a5e-9f10-2b3c4d5e6f70" '
        'ConversationID="0a1b2c3d-4e5f-4061-8728-394a5b6c7d8e" '
        f'ISP-Duration="{isp_duration}" TimeZone="{time_zone}" Period="{period}" '
        'CongestionPoint="ean.871685900012636543" Revision="2" '
        f'ExpirationDateTime="2026-12-05T12:00:00+01:00">{"".join(isps)}</FlexRequest>'
    ).encode()  # fmt: skip


def isp(
    start: int,
    duration: int = 1,
    disposition: str = "Requested",
    low: int = -50_000,
    high: int = -10_000,
) -> str:
    return (f'<ISP Disposition="{disposition}" MinPower="{low}" MaxPower="{high}" '
            f'Start="{start}" Duration="{duration}"/>')  # fmt: skip


def test_the_example_request_is_valid_uftp_by_the_specifications_schema() -> None:
    schema = etree.XMLSchema(etree.parse(str(FIXTURES / "UFTP-agr-dso.xsd")))
    assert schema.validate(etree.parse(str(REQUEST))), schema.error_log


def test_each_isp_element_gives_its_bounds_for_the_congestion_point_in_utc() -> None:
    data = REQUEST.read_bytes()
    assert detect_format("request.xml", data) == "uftp"
    parsed = parse_as("uftp", data, RECEIVED)
    assert parsed.rejected == ()
    requested = [s for s in parsed.signals if s.kind.startswith("flex_request")]
    # ISPs 69..72 of 5 Dec in Amsterdam (CET, UTC+1): 17:00-18:00 local = 16:00-17:00Z
    assert [(s.kind, s.value, s.interval_start, s.interval_end) for s in requested] == [
        ("flex_request_min_power", -50_000.0, datetime(2026, 12, 5, 16, tzinfo=UTC),
         datetime(2026, 12, 5, 17, tzinfo=UTC)),
        ("flex_request_max_power", -10_000.0, datetime(2026, 12, 5, 16, tzinfo=UTC),
         datetime(2026, 12, 5, 17, tzinfo=UTC)),
    ]  # fmt: skip
    signal = requested[0]
    assert (signal.scope_type, signal.scope_id, signal.source, signal.revision, signal.unit) == (
        "congestion_area",
        "ean.871685900012636543",
        "uftp/dso.example.com",
        1,
        "W",
    )
    assert signal.document_id == "6f1d7a2e-3c4b-4a5e-9f10-2b3c4d5e6f70"
    available = {s.kind for s in parsed.signals} - {s.kind for s in requested}
    assert available == {"flex_available_min_power", "flex_available_max_power"}
    # the last available element ends at local midnight: 23:00Z
    assert max(s.interval_end for s in parsed.signals) == datetime(2026, 12, 5, 23, tzinfo=UTC)


def test_isps_count_elapsed_time_from_local_midnight_on_a_25_hour_day() -> None:
    grid = isp_grid(date(2026, 10, 25), "Europe/Amsterdam", "PT15M")
    assert grid.count == 100
    # ISP 100 is the last quarter-hour: 23:45 CET = 22:45Z
    assert grid.interval(100) == (
        datetime(2026, 10, 25, 22, 45, tzinfo=UTC),
        datetime(2026, 10, 25, 23, tzinfo=UTC),
    )
    parsed = parse_flex_requests(request_xml(isp(97, 4), period="2026-10-25"), RECEIVED)
    assert parsed.rejected == ()
    assert parsed.signals[0].interval_start == datetime(2026, 10, 25, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "reason", "uftp_reason"),
    [
        (request_xml(isp(1, 4), isp(2)), "malformed_document", "ISP conflict"),
        (request_xml(isp(93), period="2026-03-29"), "malformed_document", "ISPs out of bounds"),
        (request_xml(isp(1), isp_duration="PT7M"), "bad_resolution", "ISP duration rejected"),
        (request_xml(isp(1), time_zone="Europe/Atlantis"), "malformed_document",
         "TimeZone rejected"),
        (request_xml(isp(1, disposition="Available")), "malformed_document", "Invalid Message"),
        (b"<FlexOrder/>", "malformed_document", "Invalid Message"),
    ],
)  # fmt: skip
def test_a_request_breaking_a_message_rule_is_refused_whole_in_uftp_terms(
    data: bytes, reason: str, uftp_reason: str
) -> None:
    parsed = parse_flex_requests(data, RECEIVED)
    assert parsed.signals == ()
    [rejection] = parsed.rejected
    assert rejection.reason == reason
    assert rejection.detail.startswith(f"UFTP {uftp_reason}: ")
