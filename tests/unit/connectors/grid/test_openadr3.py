"""OpenADR 3 events to signals: targets, multi-valued prices, "now", and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.grid.openadr3 import event_signals

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
EAN = "871685900000000001"


def event(payloads: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": "ev-1",
        "programID": "p",
        "modificationDateTime": "2026-01-15T11:00:00Z",
        "intervalPeriod": {"start": "2026-01-15T16:00:00Z", "duration": "PT1H"},
        "payloadDescriptors": [{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"},
                               {"payloadType": "PRICE", "units": "KWH", "currency": "EUR"}],
        "intervals": [{"id": 0, "payloads": payloads}],
    }  # fmt: skip
    return values | fields


LIMIT = {"type": "IMPORT_CAPACITY_LIMIT", "values": [11.0]}


def test_targets_of_3_1_and_3_0_1_name_the_sites_and_groups() -> None:
    v31 = event_signals(event([LIMIT], targets=[EAN]), NOW)
    v301 = event_signals(event([LIMIT], targets=[
        {"type": "POWER_SERVICE_LOCATION", "values": [EAN]},
        {"type": "GROUP", "values": ["GENT-N-07"]},
        {"type": "VEN_NAME", "values": ["ven-1"]},  # addresses, does not scope
    ]), NOW)  # fmt: skip
    assert [(s.scope_type, s.scope_id) for s in v31.signals] == [("site", EAN)]
    assert [(s.scope_type, s.scope_id) for s in v301.signals] == [
        ("site", EAN), ("connection_group", "GENT-N-07")
    ]  # fmt: skip
    # 11 kW = 11,000 W; the modification time is the revision
    assert {(s.value, s.revision) for s in v31.signals} == {
        (11_000.0, int(datetime(2026, 1, 15, 11, tzinfo=UTC).timestamp()))
    }


def test_a_price_with_four_values_splits_its_hour_into_quarters() -> None:
    parsed = event_signals(event([{"type": "PRICE", "values": [0.1, 0.2, 0.3, 0.4]}]), NOW,
                           default_site=EAN)  # fmt: skip
    start = datetime(2026, 1, 15, 16, tzinfo=UTC)
    q = timedelta(minutes=15)
    assert [(s.interval_start, s.interval_end, s.resolution, s.value) for s in parsed.signals] == [
        (start + i * q, start + (i + 1) * q, "PT15M", v) for i, v in enumerate((0.1, 0.2, 0.3, 0.4))
    ]
    assert {s.unit for s in parsed.signals} == {"EUR/kWh"}


def test_a_start_of_year_one_means_now_and_an_alert_holds_for_its_interval() -> None:
    parsed = event_signals(
        event([{"type": "ALERT_GRID_EMERGENCY", "values": ["shed load"]}],
              intervalPeriod={"start": "0001-01-01", "duration": "PT2H"}),
        NOW, default_site=EAN,
    )  # fmt: skip
    assert [(s.kind, s.interval_start, s.interval_end, s.value) for s in parsed.signals] == [
        ("grid_alert", NOW, NOW + timedelta(hours=2), 1.0)
    ]


@pytest.mark.parametrize(
    ("fields", "payloads", "reason", "detail"),
    [
        ({}, [LIMIT], "unknown_area", "targets no site or group"),
        ({"targets": ["not-an-ean"]}, [LIMIT], "unknown_area", "'not-an-ean' is not an EAN18"),
        ({"targets": [EAN], "intervalPeriod": {"start": "2026-01-15T16:00:00Z",
                                               "duration": "P9999Y"}},
         [LIMIT], "bad_resolution", "'P9999Y' is not a fixed"),
        ({"targets": [EAN]}, [{"type": "GHG", "values": [1]}, {"type": "GHG", "values": [2]}],
         "unmapped_payload", "payload type GHG is not mapped"),
        ({"targets": [EAN]}, [{"type": "IMPORT_CAPACITY_LIMIT", "values": [1, 2]}],
         "bad_value", "needs one number"),
        ({"targets": [EAN], "payloadDescriptors": [
            {"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "AMPS"}]},
         [LIMIT], "unknown_unit", "in 'AMPS'"),
    ],
)  # fmt: skip
def test_what_cannot_be_mapped_is_one_rejection_with_its_reason(
    fields: dict[str, Any], payloads: list[dict[str, Any]], reason: str, detail: str
) -> None:
    parsed = event_signals(event(payloads, **fields), NOW)
    assert parsed.signals == ()
    assert [r.reason for r in parsed.rejected] == [reason]  # GHG twice: one rejection
    assert detail in parsed.rejected[0].detail
