"""1.6 Start/Stop and 2.x TransactionEvent give one and the same session lifecycle."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from connectors.ocpp import Accepted, StationState, hash_id_token
from connectors.ocpp.lifecycle import stopped_reason_16
from gridstream.records import MeterSample, TransactionEvent
from gridstream.registers import sample_registers


def schema_enum(folder: str, name: str, *path: str) -> list[str]:
    text = (
        resources.files("ocpp").joinpath(folder, "schemas", f"{name}.json").read_text("utf-8-sig")
    )
    node = json.loads(text)
    for key in path:
        node = node[key]
    return node["enum"]


REASONS_16 = schema_enum("v16", "StopTransaction", "properties", "reason")
REASONS_2 = schema_enum("v201", "TransactionEventRequest", "definitions", "ReasonEnumType")


def session_16(run_call) -> list[Accepted]:
    """Plug in on connector 1 at 17:00 (register 1000 Wh), a reading at 17:15 (2500 Wh),
    stopped by a soft Reset at 17:30 (4000 Wh)."""
    station = StationState()
    start = run_call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000,
         "timestamp": "2026-01-15T17:00:00Z"},
        message_id="a", station=station,
    )  # fmt: skip
    tx = start.response["transactionId"]
    reading = {"value": "2500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    metered = run_call(
        "MeterValues",
        {"connectorId": 1, "transactionId": tx,
         "meterValue": [{"timestamp": "2026-01-15T17:15:00Z", "sampledValue": [reading]}]},
        message_id="b", station=station,
    )  # fmt: skip
    stop = run_call(
        "StopTransaction",
        {"transactionId": tx, "idTag": "TAG-1", "meterStop": 4000,
         "timestamp": "2026-01-15T17:30:00Z", "reason": "SoftReset"},
        message_id="c", station=station,
    )  # fmt: skip
    return [start, metered, stop]


def session_2(run_call, source: str) -> list[Accepted]:
    """The same story told by a 2.x station."""
    station = StationState()
    token = {"idToken": "TAG-1", "type": "ISO14443"}

    def event(event_type, seq_no, at, wh, trigger, context, **extra):
        sampled = {"value": wh, "context": context}
        return {
            "eventType": event_type, "timestamp": at, "triggerReason": trigger,
            "seqNo": seq_no, "transactionInfo": {"transactionId": "tx-1", **extra},
            "meterValue": [{"timestamp": at, "sampledValue": [sampled]}],
        }  # fmt: skip

    payloads = [
        event("Started", 0, "2026-01-15T17:00:00Z", 1000, "Authorized", "Transaction.Begin")
        | {"evse": {"id": 1, "connectorId": 1}, "idToken": token},
        event("Updated", 1, "2026-01-15T17:15:00Z", 2500, "MeterValuePeriodic", "Sample.Periodic"),
        event("Ended", 2, "2026-01-15T17:30:00Z", 4000, "ResetCommand", "Transaction.End",
              stoppedReason="ImmediateReset")
        | {"idToken": token},
    ]  # fmt: skip
    return [
        run_call("TransactionEvent", p, source=source, message_id=f"e{i}", station=station)
        for i, p in enumerate(payloads)
    ]


def lifecycle(results: list[Accepted]) -> list[tuple]:
    events = [r for result in results for r in result.records if isinstance(r, TransactionEvent)]
    return [
        (e.event_type, e.ts.isoformat(), e.meter_wh, e.evse_id, e.connector_id,
         e.id_token_hash, e.stopped_reason)
        for e in events
    ]  # fmt: skip


def registers(results: list[Accepted]) -> list[tuple]:
    samples = [r for result in results for r in result.records if isinstance(r, MeterSample)]
    return [(s.ts.isoformat(), sample_registers(s.readings)[0], s.evse_id) for s in samples]


@pytest.mark.parametrize("source", ["ocpp2.0.1", "ocpp2.1"])
def test_16_and_2x_sessions_of_the_same_story_have_the_same_lifecycle(
    run_call, id_token_key, source
):
    told_16, told_2 = session_16(run_call), session_2(run_call, source)
    tag = hash_id_token("TAG-1", id_token_key)

    assert (
        lifecycle(told_16)
        == lifecycle(told_2)
        == [
            ("started", "2026-01-15T17:00:00+00:00", 1000.0, 1, 1, tag, None),
            ("updated", "2026-01-15T17:15:00+00:00", 2500.0, 1, 1, None, None),
            # 1.6 SoftReset is 2.x ImmediateReset: one vocabulary for stop reasons.
            ("ended", "2026-01-15T17:30:00+00:00", 4000.0, 1, 1, tag, "ImmediateReset"),
        ]
    )
    # The meter samples carry the same registers at the same instants.
    assert (
        registers(told_16)
        == registers(told_2)
        == [
            ("2026-01-15T17:00:00+00:00", 1000.0, 1),
            ("2026-01-15T17:15:00+00:00", 2500.0, 1),
            ("2026-01-15T17:30:00+00:00", 4000.0, 1),
        ]
    )
    # The sessions view's energy is end - start register: 4000 - 1000 = 3000 Wh either way.


@pytest.mark.parametrize("reason", REASONS_16)
def test_every_16_stop_reason_is_a_2x_reason(reason):
    assert stopped_reason_16(reason) in REASONS_2


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("HardReset", "ImmediateReset"),  # a Reset command stopped it
        ("SoftReset", "ImmediateReset"),
        ("UnlockCommand", "Remote"),  # the CSMS stopped it
        ("EVDisconnected", "EVDisconnected"),  # same name in both
        (None, "Local"),  # 1.6: absent means Local
    ],
)
def test_16_stop_reasons_that_differ_are_mapped(reason, expected):
    assert stopped_reason_16(reason) == expected


def test_2x_ended_event_without_a_reason_stopped_locally(run_call):
    # ReasonEnumType: stoppedReason "MAY only be omitted when [it] is Local".
    payload = {
        "eventType": "Ended", "timestamp": "2026-01-15T17:30:00Z",
        "triggerReason": "StopAuthorized", "seqNo": 3, "transactionInfo": {"transactionId": "tx-1"},
    }  # fmt: skip
    (event,) = run_call("TransactionEvent", payload, source="ocpp2.0.1").records
    assert (event.event_type, event.stopped_reason) == ("ended", "Local")


def test_16_meter_values_without_a_transaction_are_no_session_event(run_call):
    payload = {
        "connectorId": 0,
        "meterValue": [{"timestamp": "2026-01-15T17:15:00Z", "sampledValue": [{"value": "5"}]}],
    }
    records = run_call("MeterValues", payload).records
    assert [type(r) for r in records] == [MeterSample]
