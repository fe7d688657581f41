"""OCPP 1.6 transactions: assigned ids, connector memory, stop details, MeterValues ids."""

from __future__ import annotations

import itertools

import pytest

from connectors.ocpp import Rejected, Sessions16, StationState
from gridstream.records import MeterSample, StationInfo, TransactionEvent


@pytest.fixture
def station() -> StationState:
    """A 1.6 station whose CSMS hands out transaction ids 41, 42, ..."""
    return StationState(sessions16=Sessions16(allocate=itertools.count(41).__next__))


def start(run_call, station, connector=2, message_id="s-1", timestamp="2026-01-15T17:00:00Z"):
    payload = {"connectorId": connector, "idTag": "TAG", "meterStart": 1000, "timestamp": timestamp}
    return run_call("StartTransaction", payload, message_id=message_id, station=station)


def stop(run_call, station, transaction_id, **extra):
    payload = {
        "transactionId": transaction_id,
        "meterStop": 1500,
        "timestamp": "2026-01-15T18:00:00Z",
        **extra,
    }
    return run_call("StopTransaction", payload, message_id="e-1", station=station)


def test_start_answers_the_id_it_assigned_and_tags_its_records(run_call, station):
    result = start(run_call, station)
    assert result.response == {"transactionId": 41, "idTagInfo": {"status": "Accepted"}}
    assert [(r.transaction_id, r.evse_id, r.connector_id) for r in result.records] == [
        ("41", 2, 2),
        ("41", 2, 2),
    ]


def test_stop_finds_the_connector_its_start_was_on(run_call, station):
    start(run_call, station, connector=2)
    result = stop(run_call, station, 41)
    assert [(r.transaction_id, r.evse_id, r.connector_id) for r in result.records] == [
        ("41", 2, 2),
        ("41", 2, 2),
    ]


def test_stop_of_a_transaction_never_started_here_has_no_evse(run_call, station):
    # E.g. started before a CSMS restart: kept, with the EVSE unknown rather than guessed.
    event = stop(run_call, station, 999).records[0]
    assert (event.transaction_id, event.evse_id, event.connector_id) == ("999", None, None)


def test_retried_start_with_the_same_message_id_gets_the_same_transaction_id(run_call, station):
    first = start(run_call, station, message_id="s-1")
    again = start(run_call, station, message_id="s-1")
    other = start(run_call, station, message_id="s-2")
    ids = [r.response["transactionId"] for r in (first, again, other)]
    assert ids == [41, 41, 42]


def test_rejected_start_uses_up_no_transaction_id(run_call, station):
    assert isinstance(start(run_call, station, message_id="s-1", timestamp="soon"), Rejected)
    assert start(run_call, station, message_id="s-2").response["transactionId"] == 41


@pytest.mark.parametrize(
    ("extra", "reason"), [({}, "Local"), ({"reason": "EVDisconnected"}, "EVDisconnected")]
)
def test_stop_reason_is_kept_and_defaults_to_local(run_call, station, extra, reason):
    event = stop(run_call, station, 41, **extra).records[0]
    assert isinstance(event, TransactionEvent)
    assert (event.event_type, event.stopped_reason, event.meter_wh) == ("ended", reason, 1500.0)


def test_stop_transaction_data_joins_the_stop_register_at_the_same_instant(run_call, station):
    start(run_call, station, connector=1)
    data = [
        {"timestamp": "2026-01-15T17:30:00Z", "sampledValue": [{"value": "1200"}]},
        {
            "timestamp": "2026-01-15T18:00:00Z",
            "sampledValue": [{"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"}],
        },
    ]
    _, *samples = stop(run_call, station, 41, transactionData=data).records
    # The meterStop sample (18:00, 1500 Wh, Transaction.End) absorbs the 18:00 entry.
    assert [
        (s.ts.strftime("%H:%M"), [(r.measurand, r.value, r.context) for r in s.readings])
        for s in samples
    ] == [
        (
            "18:00",
            [
                ("Energy.Active.Import.Register", 1500.0, "Transaction.End"),
                ("Power.Active.Import", 7200.0, "Sample.Periodic"),
            ],
        ),
        ("17:30", [("Energy.Active.Import.Register", 1200.0, "Sample.Periodic")]),
    ]
    assert {(s.transaction_id, s.evse_id) for s in samples} == {("41", 1)}


@pytest.mark.parametrize(
    ("extra", "transaction_id"),
    [({}, None), ({"transactionId": 0}, None), ({"transactionId": 7}, "7")],
    ids=["absent", "zero means none", "present"],
)
def test_meter_values_transaction_id_zero_or_absent_means_none(run_call, extra, transaction_id):
    payload = {
        "connectorId": 1,
        **extra,
        "meterValue": [{"timestamp": "2026-01-15T17:00:00Z", "sampledValue": [{"value": "5"}]}],
    }
    # With a transaction, an "updated" session event comes first (see test_ocpp_lifecycle).
    (sample,) = [r for r in run_call("MeterValues", payload).records if isinstance(r, MeterSample)]
    assert sample.transaction_id == transaction_id


def test_connector_zero_is_the_main_meter(run_call):
    payload = {
        "connectorId": 0,
        "meterValue": [{"timestamp": "2026-01-15T17:00:00Z", "sampledValue": [{"value": "5"}]}],
    }
    (sample,) = run_call("MeterValues", payload).records
    assert (sample.evse_id, sample.connector_id) == (0, 0)


def test_sessions_forget_the_oldest_transactions_beyond_their_limit():
    sessions = Sessions16(allocate=itertools.count(1).__next__, remember=2)
    for message_id, connector in (("a", 1), ("b", 2), ("c", 3)):
        start = {"connectorId": connector, "meterStart": 0, "timestamp": "2026-01-15T18:00:00Z"}
        sessions.start(message_id, start)
    assert [sessions.connector_of(tx) for tx in (1, 2, 3)] == [None, 2, 3]


def test_a_reused_message_id_with_another_start_gets_a_new_transaction_id():
    # Firmware whose message ids restart after a reboot: the same id, another session.
    sessions = Sessions16(allocate=itertools.count(1).__next__)
    first = {"connectorId": 1, "meterStart": 100, "timestamp": "2026-01-15T18:00:00Z"}
    later = {"connectorId": 1, "meterStart": 900, "timestamp": "2026-01-15T19:00:00Z"}
    assert sessions.start("1", first) == sessions.start("1", first) == 1  # one CALL asked twice
    assert sessions.start("1", later) == 2


def test_boot_and_heartbeat_answer_with_the_injected_time(run_call):
    boot = run_call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})
    assert boot.response == {
        "status": "Accepted",
        "currentTime": "2026-01-15T18:00:05.000Z",
        "interval": 300,
    }
    assert [type(r) for r in boot.records] == [StationInfo]  # test_ocpp_station_info
