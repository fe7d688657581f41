"""TenneT and Elia: DST days, validation status and bad records."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from connectors.grid.elia import parse_records
from connectors.grid.tennet import parse_imbalance_xml

RECEIVED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def tennet(*records: str) -> bytes:
    return f"<ImbalancePrice>{''.join(records)}</ImbalancePrice>".encode()


def record(date: str, ptu: int, state: str = "1", shortage: str = "50") -> str:
    return (f"<Record><DATE>{date}T00:00:00</DATE><PTU>{ptu}</PTU>"
            f"<TAKE_FROM_SYSTEM>{shortage}</TAKE_FROM_SYSTEM><FEED_INTO_SYSTEM />"
            f"<REGULATION_STATE>{state}</REGULATION_STATE></Record>")  # fmt: skip


def test_the_last_ptu_of_a_25_hour_day_is_ptu_100_in_utc() -> None:
    # 2024-10-27 starts 00:00 CEST = 22:00Z the day before; PTU 100 = 22:00Z + 99 x 15 min
    parsed = parse_imbalance_xml(tennet(record("2024-10-27", 100)), RECEIVED)
    assert {s.interval_start for s in parsed.signals} == {
        datetime(2024, 10, 27, 22, 45, tzinfo=UTC)
    }
    assert {s.kind for s in parsed.signals} == {"imbalance_price_short", "regulation_state"}


def test_a_ptu_the_day_does_not_have_or_a_strange_state_is_rejected_alone() -> None:
    parsed = parse_imbalance_xml(
        tennet(record("2024-03-31", 93), record("2024-03-31", 1, state="5"),
               record("2024-03-31", 2)),
        RECEIVED,
    )  # fmt: skip
    assert len(parsed.signals) == 2  # PTU 2: shortage price and state
    assert [r.detail for r in parsed.rejected] == [
        "TenneT export, Record 1: PTU 93 outside 1..92 of 2024-03-31",  # 23-hour day
        "TenneT export, Record 2: REGULATION_STATE '5' is not -1, 0, 1 or 2",
    ]


def test_a_validated_elia_price_is_a_later_revision_than_a_provisional_one() -> None:
    rows = [
        {"datetime": "2025-08-17T02:15:00+02:00", "resolutioncode": "PT15M",
         "qualitystatus": "Validated", "imbalanceprice": 12.5},
        {"datetime": "2025-08-17T00:30:00+00:00", "resolutioncode": "PT15M",
         "qualitystatus": "NotValidated", "imbalanceprice": None},  # no price yet: no signal
        {"datetime": "2025-08-17T00:45:00", "resolutioncode": "PT15M", "imbalanceprice": 1},
    ]  # fmt: skip
    parsed = parse_records(json.dumps(rows).encode(), RECEIVED)
    assert [(s.interval_start, s.revision, s.value) for s in parsed.signals] == [
        (datetime(2025, 8, 17, 0, 15, tzinfo=UTC), 1, 12.5)
    ]
    assert [r.detail for r in parsed.rejected] == [
        "Elia records, record 3: datetime '2025-08-17T00:45:00' has no offset"
    ]
