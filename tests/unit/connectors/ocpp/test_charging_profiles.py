"""Charging profiles and reported limits become absolute, per-period limits in W.

Payloads are constructed (no public one shows these actions) and checked against the
`ocpp` package's schemas, so that they are what a station or CSMS may really send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.ocpp import Accepted, CallContext
from connectors.ocpp.charging_profiles import set_charging_profile
from connectors.ocpp.schemas import is_valid
from gridstream.records import ChargingLimit

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)


def spans(limits: list[ChargingLimit]) -> list[tuple[str, str | None, float | None]]:
    return [
        (
            f"{lim.interval_start:%d %H:%M}",
            None if lim.interval_end is None else f"{lim.interval_end:%d %H:%M}",
            lim.limit_w,
        )
        for lim in limits
    ]


def test_a_1_6_absolute_profile_in_amperes_is_two_periods_in_watts(
    make_ctx: Callable[..., CallContext],
) -> None:
    payload = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 7, "transactionId": 42, "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": "2026-01-15T18:00:00Z", "duration": 3600,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 1800, "limit": 6.0, "numberPhases": 1},
                ],
            },
        },
    }  # fmt: skip
    assert is_valid("SetChargingProfile", "1.6", payload)
    limits = set_charging_profile(payload, make_ctx("ocpp1.6"))
    # 16 A x 230 V x 3 phases (unsaid) = 11,040 W; 6 A x 230 V x 1 phase = 1,380 W;
    # the second period ends with the schedule's duration
    assert spans(limits) == [("15 18:00", "15 18:30", 11_040), ("15 18:30", "15 19:00", 1_380)]
    first = limits[0]
    assert (first.evse_id, first.profile_id, first.transaction_id) == (1, 7, "42")
    assert (first.purpose, first.stack_level, first.limit_source) == ("TxProfile", 1, "CSMS")
    assert first.profile_key == "CS-1|1|TxProfile|1"
    assert (first.rate_unit, first.rate_limit) == ("A", 16.0)


def test_a_daily_recurring_profile_is_laid_out_from_the_occurrence_in_force(
    make_ctx: Callable[..., CallContext],
) -> None:
    # every day from 17:00 for 4 h: 7 kW, then 3.7 kW from 19:00; received the 15th 18:00:05
    payload = {
        "evseId": 0,
        "chargingProfile": {
            "id": 3, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Recurring", "recurrencyKind": "Daily",
            "chargingSchedule": [{
                "id": 1, "startSchedule": "2026-01-01T17:00:00Z", "duration": 14400,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 7000.0},
                    {"startPeriod": 7200, "limit": 3700.0},
                ],
            }],
        },
    }  # fmt: skip
    assert is_valid("SetChargingProfile", "2.0.1", payload)
    limits = set_charging_profile(payload, make_ctx("ocpp2.0.1"))
    assert spans(limits) == [
        ("15 17:00", "15 19:00", 7_000), ("15 19:00", "15 21:00", 3_700),
        ("16 17:00", "16 19:00", 7_000), ("16 19:00", "16 21:00", 3_700),
    ]  # fmt: skip


def test_a_relative_profile_starts_when_it_came_and_valid_to_cuts_it(
    make_ctx: Callable[..., CallContext],
) -> None:
    payload = {
        "evseId": 2,
        "chargingProfile": {
            "id": 9, "stackLevel": 2, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative", "validTo": "2026-01-15T18:20:05Z",
            "chargingSchedule": [{
                "id": 1, "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
            }],
        },
    }  # fmt: skip
    assert is_valid("SetChargingProfile", "2.0.1", payload)
    [limit] = set_charging_profile(payload, make_ctx("ocpp2.0.1"))
    assert (limit.interval_start, limit.interval_end) == (NOW, NOW + timedelta(minutes=20))


def test_2_1_per_phase_limits_add_up(make_ctx: Callable[..., CallContext]) -> None:
    payload = {
        "evseId": 1,
        "chargingProfile": {
            "id": 4, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{
                "id": 1, "startSchedule": "2026-01-15T18:00:00Z", "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0, "limit_L2": 16.0, "limit_L3": 10.0},
                ],
            }],
        },
    }  # fmt: skip
    assert is_valid("SetChargingProfile", "2.1", payload)
    [limit] = set_charging_profile(payload, make_ctx("ocpp2.1"))
    assert limit.limit_w == pytest.approx((16 + 16 + 10) * 230)  # 9,660 W, not x 3 again


def test_a_station_reported_external_limit_becomes_a_record(
    run_call: Callable[..., Any],
) -> None:
    payload = {
        "chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True},
        "evseId": 1,
        "chargingSchedule": [{
            "id": 1, "startSchedule": "2026-01-15T18:00:00Z", "duration": 900,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 4000.0}],
        }],
    }  # fmt: skip
    result = run_call("NotifyChargingLimit", payload, source="ocpp2.0.1")
    assert isinstance(result, Accepted)
    [limit] = result.records
    assert isinstance(limit, ChargingLimit)
    assert spans([limit]) == [("15 18:00", "15 18:15", 4_000)]
    assert (limit.limit_source, limit.grid_critical, limit.purpose) == ("EMS", True, None)
    assert limit.profile_key == "CS-1|1|external|EMS"


def test_reported_profiles_become_records(run_call: Callable[..., Any]) -> None:
    payload = {
        "requestId": 1, "chargingLimitSource": "CSO", "evseId": 1,
        "chargingProfile": [{
            "id": 5, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{
                "id": 1, "startSchedule": "2026-01-15T18:00:00Z", "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5000.0}],
            }],
        }],
    }  # fmt: skip
    result = run_call("ReportChargingProfiles", payload, source="ocpp2.0.1")
    assert isinstance(result, Accepted)
    [limit] = result.records
    assert isinstance(limit, ChargingLimit)
    assert (limit.limit_w, limit.interval_end, limit.limit_source) == (5_000, None, "CSO")
