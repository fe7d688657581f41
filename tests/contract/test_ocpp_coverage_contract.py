"""Charging needs, station registry and SEND frames against the spec's and constructed frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from ocpp.messages import MessageType, get_validator

from connectors.ocpp import (
    Accepted,
    CallContext,
    Ignored,
    Rejected,
    SendFrame,
    StationState,
    handle_send,
    parse_frame,
)
from gridstream.records import EVChargingNeeds, StationInfo

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
PACKAGE_VERSION = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1", "ocpp2.1": "2.1"}


def response_errors(action: str, source: str, payload: dict) -> list[str]:
    validator = get_validator(MessageType.CallResult, action, PACKAGE_VERSION[source])
    return [error.message for error in validator.iter_errors(payload)]


def test_v2x_charging_needs_become_one_record_with_every_parameter(load_fixture, run_frame):
    frame = load_fixture("v2.1_notifyevchargingneeds_v2x.constructed.frame.json")
    result = run_frame(frame, "ocpp2.1", StationState())
    assert result == Accepted(
        records=(
            EVChargingNeeds(
                ts=datetime(2026, 1, 15, 17, 45, 2, tzinfo=UTC),  # "timestamp": needs received
                station_id="CS-1",
                site_id="SITE-1",
                evse_id=1,
                source="ocpp2.1",
                received_at=NOW,
                message_id="c0nstructed-0001",
                requested_energy_transfer="AC_BPT",
                available_energy_transfer=("AC_three_phase", "AC_BPT"),
                control_mode="DynamicControl",
                mobility_needs_mode="EVCC_SECC",
                departure_time=datetime(2026, 1, 16, 7, 30, tzinfo=UTC),
                # No _L2/_L3 members: each power bound is already the total over phases.
                min_charge_power_w=4140.0,
                max_charge_power_w=11040.0,
                min_discharge_power_w=4140.0,
                max_discharge_power_w=11040.0,
                target_energy_wh=32000.0,
                min_energy_wh=8000.0,
                max_energy_wh=48000.0,
                min_v2x_energy_wh=-12000.0,  # wire: evMinV2XEnergyRequest (capital V2X)
                max_v2x_energy_wh=36000.0,
                target_soc_pct=80.0,
            ),
        ),
        response={"status": "Accepted"},
    )
    assert response_errors("NotifyEVChargingNeeds", "ocpp2.1", result.response) == []


def test_every_charging_needs_record_round_trips_through_json(load_fixture, run_frame):
    frame = load_fixture("v2.1_notifyevchargingneeds_v2x.constructed.frame.json")
    (record,) = run_frame(frame, "ocpp2.1", StationState()).records
    assert EVChargingNeeds.from_json(record.to_json()) == record


@pytest.mark.parametrize(
    ("fixture", "source", "extra"),
    [
        ("ocpp-j-1.6_spec_frames.json", "ocpp1.6", {}),
        ("ocpp-j-2.0.1_spec_frames.json", "ocpp2.0.1", {"boot_reason": "PowerUp"}),
        ("ocpp-j-2.1_spec_frames.json", "ocpp2.1", {"boot_reason": "PowerUp"}),
    ],
)
def test_spec_boot_notification_registers_the_station(
    load_fixture, run_frame, fixture, source, extra
):
    boot, spec_answer, *_ = load_fixture(fixture)
    result = run_frame(boot, source, StationState())
    assert result.records == (
        StationInfo(
            station_id="CS-1",
            received_at=NOW,
            source=source,
            vendor="VendorX",
            model="SingleSocketCharger",
            message_id="19223201",
            **extra,
        ),
    )
    # The answer has the spec example's members (values are this CSMS's own), and it is
    # schema-valid; the 1.6 spec example itself is not (it says heartbeatInterval).
    assert response_errors("BootNotification", source, result.response) == []
    if source != "ocpp1.6":
        assert result.response.keys() == spec_answer[2].keys()
    else:
        assert response_errors("BootNotification", source, spec_answer[2]) != []


@pytest.mark.parametrize(
    "fixture", ["ocpp-j-2.0.1_spec_frames.json", "ocpp-j-2.1_spec_frames.json"]
)
def test_spec_call_error_from_a_station_is_ignored(load_fixture, fixture):
    source = "ocpp2.1" if "2.1" in fixture else "ocpp2.0.1"
    error = next(frame for frame in load_fixture(fixture) if frame[0] == 4)
    assert isinstance(parse_frame(json.dumps(error), source), Ignored)  # we sent no CALL


def test_spec_send_example_is_dead_lettered_unanswered_because_it_fails_the_schema(
    load_fixture, id_token_key
):
    # OCPP 2.1 Part 4 §4.2.4's own example: no basetime and `t` as timestamps
    # (PROTOCOLS.md §3): validate against the schema, never against examples.
    send = next(frame for frame in load_fixture("ocpp-j-2.1_spec_frames.json") if frame[0] == 6)
    raw = json.dumps(send)
    frame = parse_frame(raw, "ocpp2.1")
    assert isinstance(frame, SendFrame)
    ctx = CallContext(
        station_id="CS-1",
        site_id="SITE-1",
        message_id=frame.message_id,
        now=NOW,
        source="ocpp2.1",
        id_token_key=id_token_key,
    )
    rejected = handle_send(frame, ctx)
    assert isinstance(rejected, Rejected)
    assert (rejected.reason_code, rejected.ocpp_error_code, rejected.raw) == (
        "schema_violation",
        None,  # a SEND is never answered, not even with a CALLERROR
        raw,
    )
    assert rejected.error_frame() is None
