"""OCPP 2.0.1 / 2.1 TransactionEvent and MeterValues: EVSE memory, fields, versions."""

from __future__ import annotations

import pytest

from connectors.ocpp import StationState, v21, v201
from gridstream.records import MeterSample, TransactionEvent

METER_VALUE = [{"timestamp": "2026-01-15T17:00:00Z", "sampledValue": [{"value": 10}]}]


def event_payload(event_type="Updated", seq_no=1, evse=None, **info):
    payload = {
        "eventType": event_type,
        "timestamp": "2026-01-15T17:00:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "tx-1", **info},
        "meterValue": METER_VALUE,
    }
    if evse is not None:
        payload["evse"] = evse
    return payload


def run_events(run_call, payloads, source="ocpp2.0.1"):
    station = StationState()
    return [
        run_call("TransactionEvent", p, source=source, message_id=f"te-{i}", station=station)
        for i, p in enumerate(payloads)
    ]


def test_evse_of_the_first_event_is_kept_for_later_events_without_it(run_call):
    results = run_events(
        run_call,
        [
            event_payload("Started", 0, {"id": 2, "connectorId": 1}),
            event_payload("Updated", 1),
            event_payload("Ended", 2),
        ],
    )
    assert [
        (r.evse_id, r.connector_id, r.transaction_id) for res in results for r in res.records
    ] == [(2, 1, "tx-1")] * 6


def test_evse_repeated_without_connector_keeps_the_connector(run_call):
    results = run_events(
        run_call,
        [
            event_payload("Started", 0, {"id": 2, "connectorId": 1}),
            event_payload("Updated", 1, {"id": 2}),
        ],
    )
    assert (results[1].records[0].evse_id, results[1].records[0].connector_id) == (2, 1)


def test_rejected_event_does_not_teach_an_evse(run_call):
    bad = event_payload("Started", 0, {"id": 3, "connectorId": 1})
    bad["timestamp"] = "not a time"
    results = run_events(run_call, [bad, event_payload("Updated", 1)])
    assert results[0].reason_code == "bad_value"
    assert results[1].records[0].evse_id is None


@pytest.mark.parametrize("event_type", ["Started", "Updated", "Ended"])
def test_event_type_is_lower_cased(run_call, event_type):
    (result,) = run_events(run_call, [event_payload(event_type)])
    assert result.records[0].event_type == event_type.lower()


def test_event_fields_are_carried_over(run_call):
    payload = event_payload("Ended", 5, chargingState="SuspendedEV", stoppedReason="EVDisconnected")
    payload |= {"offline": True, "numberOfPhasesUsed": 1, "triggerReason": "EVDeparted"}
    (result,) = run_events(run_call, [payload])
    event = result.records[0]
    assert isinstance(event, TransactionEvent)
    assert (
        event.seq_no,
        event.trigger_reason,
        event.charging_state,
        event.stopped_reason,
        event.offline,
        event.number_of_phases_used,
        event.operation_mode,
    ) == (5, "EVDeparted", "SuspendedEV", "EVDisconnected", True, 1, None)


def test_operation_mode_comes_through_in_2_1_and_is_refused_by_the_2_0_1_schema(run_call):
    payload = event_payload(operationMode="CentralSetpoint")
    (v21_result,) = run_events(run_call, [payload], source="ocpp2.1")
    (v201_result,) = run_events(run_call, [payload], source="ocpp2.0.1")
    assert v21_result.records[0].operation_mode == "CentralSetpoint"
    assert (v201_result.reason_code, v201_result.ocpp_error_code) == (
        "schema_violation",
        "FormatViolation",
    )


def test_no_authorization_empty_id_token_gets_no_hash(run_call):
    payload = event_payload("Started", 0) | {"idToken": {"idToken": "", "type": "NoAuthorization"}}
    (result,) = run_events(run_call, [payload])
    assert result.records[0].id_token_hash is None


def test_meter_values_request_keeps_evse_id_and_no_transaction(run_call):
    (sample,) = run_call(
        "MeterValues", {"evseId": 0, "meterValue": METER_VALUE}, source="ocpp2.1"
    ).records
    assert isinstance(sample, MeterSample)
    assert (sample.evse_id, sample.connector_id, sample.transaction_id, sample.source) == (
        0,
        None,
        None,
        "ocpp2.1",
    )


def test_2_1_handles_every_2_0_1_action_and_its_own():
    assert v21.ACTIONS > v201.ACTIONS
    assert "OpenPeriodicEventStream" in v21.ACTIONS - v201.ACTIONS
