"""The signals bench's document: a whole year of quarter-hours, A03-compressed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.signals import year_of_prices
from connectors.grid.entsoe import parse_document


def test_a_year_of_prices_fills_every_quarter_hour_once() -> None:
    document = year_of_prices(2024)  # a leap year: 366 days
    assert document.count(b"<Point>") < 366 * 96  # compressed: repeated prices left out
    parsed = parse_document(document, datetime(2025, 1, 1, tzinfo=UTC))
    assert parsed.rejected == ()
    starts = [s.interval_start for s in parsed.signals]
    assert len(starts) == len(set(starts)) == 366 * 96  # 35,136 quarter-hours
    assert min(starts) == datetime(2024, 1, 1, tzinfo=UTC)
    assert max(starts) == datetime(2025, 1, 1, tzinfo=UTC) - timedelta(minutes=15)
