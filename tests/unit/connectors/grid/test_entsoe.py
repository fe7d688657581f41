"""ENTSO-E documents to grid signals: constructed variants of the real files' shapes.

The real files are in tests/contract/test_entsoe_contract.py; these are small documents
written for one rule each (old namespaces, overlapping sequences, bad input).
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from connectors.grid.entsoe import parse_document

RECEIVED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 1, 14, 23, 0, tzinfo=UTC)


def a44(*series: str, ns: str = "publicationdocument:7:0", revision: str = "3") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:{ns}">
  <mRID>doc-a44</mRID><revisionNumber>{revision}</revisionNumber><type>A44</type>
  {"".join(series)}
</Publication_MarketDocument>""".encode()


def series(
    points: str,
    *,
    resolution: str = "PT60M",
    start: str = "2026-01-14T23:00Z",
    end: str = "2026-01-15T02:00Z",
    sequence: str | None = None,
    area: str = "10Y1001A1001A82H",
    curve: str = "A01",
    contract: str = "A01",
) -> str:
    position = (
        f"<classificationSequence_AttributeInstanceComponent.position>{sequence}"
        "</classificationSequence_AttributeInstanceComponent.position>"
        if sequence
        else ""
    )
    return f"""<TimeSeries><mRID>1</mRID>
    <in_Domain.mRID codingScheme="A01">{area}</in_Domain.mRID>
    <contract_MarketAgreement.type>{contract}</contract_MarketAgreement.type>{position}
    <currency_Unit.name>EUR</currency_Unit.name>
    <price_Measure_Unit.name>MWH</price_Measure_Unit.name><curveType>{curve}</curveType>
    <Period><timeInterval><start>{start}</start><end>{end}</end></timeInterval>
    <resolution>{resolution}</resolution>{points}</Period></TimeSeries>"""


def pts(*values: tuple[int, str]) -> str:
    return "".join(
        f"<Point><position>{p}</position><price.amount>{v}</price.amount></Point>"
        for p, v in values
    )


def test_an_old_namespace_reads_like_the_new_one() -> None:
    old = parse_document(a44(series(pts((1, "10"), (2, "20"), (3, "30")))), RECEIVED)
    new = parse_document(
        a44(series(pts((1, "10"), (2, "20"), (3, "30"))), ns="publicationdocument:7:3"), RECEIVED
    )
    assert old == new
    assert [(s.interval_start, s.value) for s in old.signals] == [
        (T0, 10.0), (T0 + timedelta(hours=1), 20.0), (T0 + timedelta(hours=2), 30.0)
    ]  # fmt: skip
    first = old.signals[0]
    assert (first.kind, first.scope_type, first.scope_id) == (
        "day_ahead_price", "bidding_zone", "10Y1001A1001A82H")  # fmt: skip
    assert (first.unit, first.resolution, first.source) == ("EUR/MWh", "PT60M", "entsoe")
    assert (first.document_id, first.revision, first.received_at) == ("doc-a44", 3, RECEIVED)
    assert first.interval_end == T0 + timedelta(hours=1)


def test_overlapping_sequences_stay_apart_and_keep_their_own_resolution() -> None:
    # DE-LU style: sequence 1 (SDAC) hourly, sequence 2 quarter-hourly over the same hour
    hourly = series(pts((1, "80")), end="2026-01-15T00:00Z", sequence="1")
    quarters = series(pts((1, "70"), (2, "71"), (3, "72"), (4, "73")), resolution="PT15M",
                      end="2026-01-15T00:00Z", sequence="2")  # fmt: skip
    parsed = parse_document(a44(hourly, quarters), RECEIVED)
    assert parsed.rejected == ()
    by_source = {(s.source, s.interval_start, s.resolution): s.value for s in parsed.signals}
    assert by_source == {
        ("entsoe", T0, "PT60M"): 80.0,
        ("entsoe/sequence=2", T0, "PT15M"): 70.0,
        ("entsoe/sequence=2", T0 + timedelta(minutes=15), "PT15M"): 71.0,
        ("entsoe/sequence=2", T0 + timedelta(minutes=30), "PT15M"): 72.0,
        ("entsoe/sequence=2", T0 + timedelta(minutes=45), "PT15M"): 73.0,
    }


def test_an_intraday_auction_is_its_own_kind() -> None:
    parsed = parse_document(a44(series(pts((1, "5")), end="2026-01-15T00:00Z",
                                       contract="A07")), RECEIVED)  # fmt: skip
    assert [s.kind for s in parsed.signals] == ["intraday_auction_price"]


def test_a_bad_time_series_is_rejected_alone() -> None:
    good = series(pts((1, "10")), end="2026-01-15T00:00Z")
    bad_resolution = series(pts((1, "10")), resolution="P1M")
    parsed = parse_document(a44(good, bad_resolution), RECEIVED)
    assert [s.value for s in parsed.signals] == [10.0]
    (rejection,) = parsed.rejected
    assert rejection.reason == "bad_resolution"
    assert "resolution 'P1M' is not a fixed ISO 8601 duration" in rejection.detail
    assert rejection.raw.startswith("<") and "P1M" in rejection.raw  # the series, raw


@pytest.mark.parametrize(
    ("document", "reason", "detail"),
    [
        (b"<not xml", "malformed_document", "not well-formed XML"),
        (b"<Something_MarketDocument/>", "unknown_format", "root element 'Something_Market"),
        (a44(series(pts((1, "1")), area="BE")), "unknown_area", "'BE' is not an EIC area code"),
        (a44(series(pts((2, "1")), curve="A03")), "malformed_document", "without position 1"),
        (a44(series(pts((1, "ten")))), "bad_value", "'ten' is not a number"),
        (a44(series(pts((1, "1")), resolution="PT50M")), "bad_resolution", "does not tile"),
        (a44(series(pts((1, "1"))), revision="x"), "bad_value", "revisionNumber 'x'"),
        (b"PK\x03\x04 truncated", "malformed_document", "ZIP archive cannot be read"),
    ],
)  # fmt: skip
def test_bad_input_becomes_a_rejection_with_its_reason(
    document: bytes, reason: str, detail: str
) -> None:
    parsed = parse_document(document, RECEIVED)
    assert parsed.signals == ()
    assert [r.reason for r in parsed.rejected] == [reason]
    assert detail in parsed.rejected[0].detail


def test_a_zip_of_documents_gives_the_signals_of_each() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", a44(series(pts((1, "1")), end="2026-01-15T00:00Z")))
        archive.writestr("b.xml", a44(series(pts((1, "2")), start="2026-01-15T00:00Z",
                                             end="2026-01-15T01:00Z")))  # fmt: skip
    parsed = parse_document(buffer.getvalue(), RECEIVED)
    assert [(s.interval_start, s.value) for s in parsed.signals] == [
        (T0, 1.0), (T0 + timedelta(hours=1), 2.0)
    ]  # fmt: skip
