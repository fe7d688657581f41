"""OCPP 2.0.1 and 2.1 normalisation against MaEVe's payloads and the constructed V2X frame."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ocpp.messages import CallResult
from ocpp.messages import _validate_payload as validate_ocpp_payload

from connectors.ocpp import Accepted, StationState, hash_id_token
from gridstream.records import MeterSample, Reading, TransactionEvent

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
# "2023-05-05T12:00:00+01:00" is 11:00 UTC.
MAEVE_TS = datetime(2023, 5, 5, 11, 0, tzinfo=UTC)


@pytest.fixture
def maeve(load_fixture, run_frame) -> dict[str, Accepted]:
    """MaEVe's Started, Updated and Ended events, in that order, on one station."""
    station = StationState()
    out = {}
    for step in ("started", "updated", "ended"):
        payload = load_fixture(f"v2.0.1_maeve_transactionevent_{step}.payload.json")
        out[step] = run_frame([2, f"te-{step}", "TransactionEvent", payload], "ocpp2.0.1", station)
    return out


def maeve_event(step: str, **fields: object) -> TransactionEvent:
    return TransactionEvent(
        ts=MAEVE_TS,
        station_id="CS-1",
        site_id="SITE-1",
        transaction_id="5555",
        event_type=step,
        source="ocpp2.0.1",
        message_id=f"te-{step}",
        received_at=NOW,
        seq_no=0,
        # handle_call alone notes no seqNo (the server does, once published): nothing comes
        # before a Started event; for the others nothing is known.
        seq_gap=0 if step == "started" else None,
        charging_state="Charging",
        meter_wh=100.0,  # the event's own register reading: the session's start/end
        **fields,
    )


def maeve_sample(step: str, context: str) -> MeterSample:
    # value 100 with no unitOfMeasure: Wh by default; location Outlet as sent.
    reading = Reading(
        measurand="Energy.Active.Import.Register",
        value=100.0,
        unit="Wh",
        location="Outlet",
        context=context,
    )
    return MeterSample(
        ts=MAEVE_TS,
        station_id="CS-1",
        site_id="SITE-1",
        transaction_id="5555",
        source="ocpp2.0.1",
        message_id=f"te-{step}",
        received_at=NOW,
        readings=(reading,),
    )


def test_maeve_started_offset_becomes_utc_and_id_token_is_hashed(maeve, id_token_key):
    # No evse in any of the three: EVSE stays unknown rather than guessed.
    assert maeve["started"] == Accepted(
        records=(
            maeve_event(
                "started",
                trigger_reason="CablePluggedIn",
                id_token_hash=hash_id_token("SOMERFID", id_token_key),
            ),
            maeve_sample("started", "Sample.Periodic"),
        ),
        # It named an idToken: the answer says Accepted (this CSMS does not authorise).
        response={"idTokenInfo": {"status": "Accepted"}},
    )


def test_maeve_updated_is_a_periodic_sample(maeve):
    assert maeve["updated"].records == (
        maeve_event("updated", trigger_reason="MeterValuePeriodic"),
        maeve_sample("updated", "Sample.Periodic"),
    )


def test_maeve_ended_keeps_transaction_end_context(maeve):
    # No stoppedReason: ReasonEnumType says it "MAY only be omitted when [it] is Local".
    assert maeve["ended"].records == (
        maeve_event("ended", trigger_reason="StopAuthorized", stopped_reason="Local"),
        maeve_sample("ended", "Transaction.End"),
    )


def test_v2x_transaction_event_converts_units_and_keeps_operation_mode(load_fixture, run_frame):
    frame = load_fixture("v2.1_transactionevent_v2x_discharging.constructed.frame.json")
    result = run_frame(frame, "ocpp2.1", StationState())
    assert isinstance(result, Accepted)
    event, sample = result.records
    ts = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
    assert event == TransactionEvent(
        ts=ts,
        station_id="CS-1",
        site_id="SITE-1",
        evse_id=1,
        connector_id=1,
        transaction_id="0f6c3a52-6a3e-4a8e-9d1d-7c0f2b9a1e11",
        event_type="updated",
        source="ocpp2.1",
        message_id="c0nstructed-0002",
        received_at=NOW,
        seq_no=7,
        trigger_reason="OperationModeChanged",
        charging_state="Charging",
        operation_mode="CentralSetpoint",
        offline=False,
        number_of_phases_used=3,
        meter_wh=15234.0,  # 15.234 kWh import register
    )

    def reading(measurand, value, unit, phase=None, location="Outlet"):
        return Reading(
            measurand=measurand,
            value=value,
            unit=unit,
            phase=phase,
            location=location,
            context="Sample.Periodic",
        )

    assert sample == MeterSample(
        ts=ts,
        station_id="CS-1",
        site_id="SITE-1",
        evse_id=1,
        connector_id=1,
        transaction_id="0f6c3a52-6a3e-4a8e-9d1d-7c0f2b9a1e11",
        source="ocpp2.1",
        message_id="c0nstructed-0002",
        received_at=NOW,
        readings=(
            reading("Energy.Active.Import.Register", 15234.0, "Wh"),  # 15.234 kWh x 1000
            reading("Energy.Active.Export.Register", 1112.0, "Wh"),  # 1.112 Wh x 10^3
            reading("Power.Active.Export", 7400.0, "W"),
            reading("Power.Active.Import", 0.0, "W"),
            reading("SoC", 63.0, "%", location="EV"),  # Percent -> %
            reading("Frequency", 49.98, "Hz"),
            reading("Voltage", 231.2, "V", phase="L1-N"),
            reading("Voltage", 230.7, "V", phase="L2-N"),
            reading("Voltage", 232.0, "V", phase="L3-N"),
        ),
    )


@pytest.mark.parametrize(
    ("source", "package_version", "action", "payload"),
    [
        ("ocpp1.6", "1.6", "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}),
        ("ocpp1.6", "1.6", "Heartbeat", {}),
        (
            "ocpp1.6",
            "1.6",
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
        ),
        (
            "ocpp1.6",
            "1.6",
            "StartTransaction",
            {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-15T17:00:00Z"},
        ),
        (
            "ocpp1.6",
            "1.6",
            "StopTransaction",
            {"transactionId": 1, "meterStop": 10, "timestamp": "2026-01-15T17:10:00Z"},
        ),
        (
            "ocpp2.0.1",
            "2.0.1",
            "BootNotification",
            {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"},
        ),
        ("ocpp2.0.1", "2.0.1", "Heartbeat", {}),
        (
            "ocpp2.1",
            "2.1",
            "BootNotification",
            {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"},
        ),
        ("ocpp2.1", "2.1", "Heartbeat", {}),
        (
            "ocpp2.1",
            "2.1",
            "StatusNotification",
            {
                "timestamp": "2026-01-15T17:00:00Z",
                "connectorStatus": "Available",
                "evseId": 1,
                "connectorId": 1,
            },
        ),
    ],
)
def test_answers_validate_against_the_package_response_schemas(
    run_frame, source, package_version, action, payload
):
    result = run_frame([2, "a-1", action, payload], source, StationState())
    assert isinstance(result, Accepted)
    # Raises the package's OCPPError if the CALLRESULT payload is not schema-valid.
    validate_ocpp_payload(CallResult("a-1", result.response, action), package_version)


def test_v2_meter_values_and_transaction_event_answers_validate(load_fixture, run_frame):
    payload = load_fixture("v2.0.1_maeve_transactionevent_started.payload.json")
    result = run_frame([2, "a-2", "TransactionEvent", payload], "ocpp2.0.1", StationState())
    validate_ocpp_payload(CallResult("a-2", result.response, "TransactionEvent"), "2.0.1")
    meter_values = {"evseId": 0, "meterValue": payload["meterValue"]}
    result = run_frame([2, "a-3", "MeterValues", meter_values], "ocpp2.1", StationState())
    validate_ocpp_payload(CallResult("a-3", result.response, "MeterValues"), "2.1")
