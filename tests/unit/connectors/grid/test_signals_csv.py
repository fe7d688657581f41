"""The generic signals CSV: what a DSO sends without a connector of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.grid.signals_csv import parse_signals_csv

RECEIVED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
HEADER = "kind,scope_type,scope_id,interval_start,resolution,value,unit"


def test_a_capacity_limit_per_site_with_defaults_for_the_optional_columns() -> None:
    data = (
        f"{HEADER}\n"
        "import_capacity_limit,site,541448800000000001,2026-01-15T17:00:00+01:00,PT15M,"
        "40000,W\n"
    ).encode()
    parsed = parse_signals_csv(data, RECEIVED)
    assert parsed.rejected == ()
    (signal,) = parsed.signals
    start = datetime(2026, 1, 15, 16, 0, tzinfo=UTC)  # 17:00+01:00
    assert (signal.interval_start, signal.interval_end) == (start, start + timedelta(minutes=15))
    assert (signal.kind, signal.scope_type, signal.scope_id) == (
        "import_capacity_limit", "site", "541448800000000001")  # fmt: skip
    assert (signal.value, signal.unit, signal.source, signal.revision) == (40_000, "W", "csv", 0)
    assert len(signal.document_id) == 16  # the file's hash: the same file, the same document
    assert parse_signals_csv(data, RECEIVED).signals[0].document_id == signal.document_id


def test_a_bad_row_is_rejected_alone_with_its_line() -> None:
    data = (
        f"{HEADER},interval_end,revision\n"
        "congestion_price,congestion_area,GENT-N,2026-01-15T16:00Z,PT1H,12.5,EUR/MWh,,2\n"
        "congestion_price,congestion_area,GENT-N,2026-01-15T17:00,PT1H,12.5,EUR/MWh,,2\n"
        "congestion_price,congestion_area,GENT-N,2026-01-15T18:00Z,P1M,12.5,EUR/MWh,,2\n"
        "price,congestion_area,GENT-N,2026-01-15T19:00Z,PT1H,12.5,EUR/MWh,,2\n"
    ).encode()
    parsed = parse_signals_csv(data, RECEIVED)
    assert [(s.interval_start.hour, s.revision) for s in parsed.signals] == [(16, 2)]
    assert [(r.reason, r.detail.split(":")[0]) for r in parsed.rejected] == [
        ("bad_value", "signals CSV, line 3"),  # no offset on the time
        ("bad_resolution", "signals CSV, line 4"),  # a month has no fixed length
        ("bad_value", "signals CSV, line 5"),  # 'price' is not a kind
    ]
    assert "interval_start must carry an offset" in parsed.rejected[0].detail


def test_a_file_without_the_required_columns_is_rejected_whole() -> None:
    parsed = parse_signals_csv(b"kind,scope_id,colour\nx,y,z\n", RECEIVED)
    assert parsed.signals == ()
    (rejection,) = parsed.rejected
    assert rejection.reason == "malformed_document"
    assert "missing column(s) scope_type, interval_start, resolution" in rejection.detail
    assert "unknown column(s) colour" in rejection.detail
