"""Contract tests: TenneT and Elia balancing data in tests/fixtures/grid."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.grid import detect_format, parse_as

FIXTURES = Path(__file__).parent.parent / "fixtures" / "grid"
RECEIVED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_tennet_settlement_prices_give_short_long_prices_and_the_regulation_state() -> None:
    name = "tennet/tennet_legacy_ImbalancePrice_2017-02-16.xml"
    data = (FIXTURES / name).read_bytes()
    assert detect_format(name, data) == "tennet"
    parsed = parse_as("tennet", data, RECEIVED)
    assert parsed.rejected == ()
    assert Counter(s.kind for s in parsed.signals) == {
        "imbalance_price_short": 96, "imbalance_price_long": 96, "regulation_state": 96
    }  # fmt: skip
    states = Counter(s.value for s in parsed.signals if s.kind == "regulation_state")
    assert states == {-1.0: 49, 1.0: 36, 2.0: 7, 0.0: 4}  # as counted in the reference README
    # PTU 1 is 00:00-00:15 CET = 23:00Z the day before; state 2: dual prices 33.61 / -18.05
    first = datetime(2017, 2, 15, 23, 0, tzinfo=UTC)
    ptu1 = {s.kind: s.value for s in parsed.signals if s.interval_start == first}
    assert ptu1 == {"imbalance_price_short": 33.61, "imbalance_price_long": -18.05,
                    "regulation_state": 2.0}  # fmt: skip
    assert max(s.interval_end for s in parsed.signals) == first + timedelta(days=1)
    assert {(s.scope_type, s.scope_id, s.source) for s in parsed.signals} == {
        ("control_area", "10YNL----------L", "tennet")
    }
    assert {s.unit for s in parsed.signals if s.kind != "regulation_state"} == {"EUR/MWh"}


def test_elia_minute_records_give_imbalance_prices_of_that_minute() -> None:
    name = "elia/elia_imbalance_records_PT1M.extracted.json"
    data = (FIXTURES / name).read_bytes()
    assert detect_format(name, data) == "elia"
    parsed = parse_as("elia", data, RECEIVED)
    assert parsed.rejected == ()
    rows = [(s.interval_start, s.interval_end, s.value, s.revision) for s in parsed.signals]
    t1 = datetime(2025, 8, 17, 0, 0, tzinfo=UTC)
    t2 = datetime(2025, 8, 17, 0, 36, tzinfo=UTC)
    minute = timedelta(minutes=1)
    # DataIssue records are provisional: revision 0
    assert rows == [(t1, t1 + minute, 43.944, 0), (t2, t2 + minute, -30.258, 0)]
    assert {(s.kind, s.scope_id, s.resolution) for s in parsed.signals} == {
        ("imbalance_price", "10YBE----------2", "PT1M")
    }
