"""Contract tests: the ENTSO-E parser against real responses in tests/fixtures/grid/entsoe."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.grid import detect_format, parse_document

FIXTURES = Path(__file__).parent.parent / "fixtures" / "grid" / "entsoe"
RECEIVED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def parse(name: str):  # type: ignore[no-untyped-def]
    data = (FIXTURES / name).read_bytes()
    assert detect_format(name, data) == "entsoe"
    return parse_document(data, RECEIVED)


def test_belgian_day_ahead_prices_are_24_hours_of_eur_per_mwh() -> None:
    parsed = parse("A44_BE_2024-10-08_PT60M.xml")
    assert parsed.rejected == ()
    signals = parsed.signals
    start = datetime(2024, 10, 7, 22, tzinfo=UTC)
    assert len(signals) == 24
    assert [s.interval_start for s in signals] == [start + timedelta(hours=h) for h in range(24)]
    assert (signals[0].value, signals[-1].value) == (64.98, 50.0)  # first and last point
    assert signals[-1].interval_end == datetime(2024, 10, 8, 22, tzinfo=UTC)
    assert {(s.kind, s.scope_type, s.scope_id, s.unit, s.resolution) for s in signals} == {
        ("day_ahead_price", "bidding_zone", "10YBE----------2", "EUR/MWh", "PT60M")
    }
    assert {(s.document_id, s.revision) for s in signals} == {
        ("c3891474d3014008b9c6036658010b88", 1)
    }


def test_finnish_a03_prices_with_gaps_fill_two_days_of_quarter_hours() -> None:
    parsed = parse("A44_FI_2025-10-12_PT15M_A03-gaps.xml")
    assert parsed.rejected == ()
    values = {s.interval_start: s.value for s in parsed.signals}
    day1 = datetime(2025, 10, 11, 22, tzinfo=UTC)
    day2 = datetime(2025, 10, 12, 22, tzinfo=UTC)
    q = timedelta(minutes=15)
    assert len(parsed.signals) == len(values) == 192  # 2 x 96, each quarter-hour once
    # day 1: positions 18-20 absent -> 0.27 of position 17; position 21 is 0.14
    assert [values[day1 + (p - 1) * q] for p in (17, 18, 19, 20, 21)] == [0.27] * 4 + [0.14]
    # day 2: positions 3-15 absent -> 0 of position 2; position 16 is 0.01
    assert values[day2 + q] == 0.0
    assert {values[day2 + (p - 1) * q] for p in range(3, 16)} == {0.0}
    assert values[day2 + 15 * q] == 0.01
    assert values[day2 + 95 * q] == 76.69  # the last point, to the end of the period
    assert max(s.interval_end for s in parsed.signals) == datetime(2025, 10, 13, 22, tzinfo=UTC)
    assert {s.scope_id for s in parsed.signals} == {"10YFI-1--------U"}


def test_czech_imbalance_prices_keep_long_and_short_apart_in_czk() -> None:
    parsed = parse("A85_CZ_2024-11-10_PT15M_A04-A05.xml")
    assert parsed.rejected == ()
    assert Counter(s.kind for s in parsed.signals) == {
        "imbalance_price_long": 4, "imbalance_price_short": 4
    }  # fmt: skip
    start = datetime(2024, 11, 10, 6, tzinfo=UTC)
    long = [s for s in parsed.signals if s.kind == "imbalance_price_long"]
    assert [s.interval_start for s in long] == [start + i * timedelta(minutes=15) for i in range(4)]
    assert [s.value for s in long] == [2866.49, 2918.79, 3517.86, 3263.31]
    assert {(s.scope_type, s.scope_id, s.unit) for s in parsed.signals} == {
        ("control_area", "10YCZ-CEPS-----N", "CZK/MWh")
    }


def test_no_matching_data_is_a_no_data_rejection() -> None:
    parsed = parse("acknowledgement_no_matching_data.xml")
    assert parsed.signals == ()
    (rejection,) = parsed.rejected
    assert rejection.reason == "no_data"
    assert "reason 999: No matching data found" in rejection.detail
