"""What a station already delivered: retransmissions, re-sent events and samples, seqNo gaps.

Pure: ``Replays`` and ``SeqNos`` on their own, and ``handle_call`` with a station memory the
way the server drives it (``arrive``, ``fresh``, then ``accepted`` once published).
"""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.ocpp import Accepted, StationState, replays
from connectors.ocpp.replays import (
    Fresh,
    Replay,
    Replays,
    SeqNos,
    event_key,
    payload_digest,
)
from gridstream.records import DeadLetter, MeterSample, Reading, TransactionEvent

T0 = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)


def sample(minute: int, wh: float = 1000.0, **fields: Any) -> MeterSample:
    return MeterSample(
        ts=T0 + timedelta(minutes=minute),
        station_id="CS-1",
        site_id="SITE-1",
        evse_id=fields.pop("evse_id", 1),
        connector_id=1,
        transaction_id=fields.pop("transaction_id", "7"),
        source="ocpp1.6",
        message_id=fields.pop("message_id", "m-1"),
        received_at=fields.pop("received_at", T0 + timedelta(hours=1)),
        readings=(
            Reading(measurand="Energy.Active.Import.Register", value=wh, unit="Wh", **fields),
        ),
    )


def event(seq_no: int, charging_state: str = "Charging") -> dict[str, Any]:
    return {
        "eventType": "Started" if seq_no == 0 else "Updated",
        "timestamp": "2026-01-15T17:00:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "tx-1", "chargingState": charging_state},
    }


def deliver(memory: Replays, message_id: str, action: str, payload: dict, records=()) -> Fresh:
    """Arrive, filter and remember one CALL as the server does after a successful publish."""
    arrival = memory.arrive(message_id, action, payload)
    assert arrival.replay is None
    fresh = memory.fresh(list(records))
    memory.accepted(arrival, fresh, {"answer-of": message_id})
    return fresh


# --- the same CALL again ----------------------------------------------------------------


def test_same_id_and_payload_gets_the_first_answer_again() -> None:
    memory = Replays()
    payload = {"connectorId": 1, "meterValue": []}
    deliver(memory, "m-1", "MeterValues", payload, [sample(0)])
    # Key order is not part of the payload: a re-serialised retransmission is the same.
    again = memory.arrive("m-1", "MeterValues", {"meterValue": [], "connectorId": 1})
    assert again.replay == Replay({"answer-of": "m-1"}, "message_id")


def test_same_id_with_another_payload_is_a_new_message() -> None:
    memory = Replays()
    deliver(memory, "m-1", "MeterValues", {"connectorId": 1}, [sample(0)])
    assert memory.arrive("m-1", "MeterValues", {"connectorId": 2}).replay is None
    assert memory.arrive("m-2", "MeterValues", {"connectorId": 1}).replay is None


def test_nothing_is_remembered_before_accepted() -> None:
    # The shell calls accepted only once the broker acknowledged: a failed publish is
    # handled for real when the station retries.
    memory = Replays()
    memory.arrive("m-1", "MeterValues", {"connectorId": 1})
    memory.fresh([sample(0)])
    assert memory.arrive("m-1", "MeterValues", {"connectorId": 1}).replay is None
    assert memory.fresh([sample(0)]).dropped == 0


def test_calls_without_records_are_not_remembered() -> None:
    # A Heartbeat retransmitted doubles nothing; it gets a fresh currentTime instead.
    memory = Replays()
    deliver(memory, "hb-1", "Heartbeat", {})
    assert memory.arrive("hb-1", "Heartbeat", {}).replay is None


def test_only_the_last_calls_are_remembered() -> None:
    memory = Replays(calls=2)
    for n in range(3):
        deliver(memory, f"m-{n}", "MeterValues", {"n": n}, [sample(n)])
    assert memory.arrive("m-0", "MeterValues", {"n": 0}).replay is None
    assert memory.arrive("m-2", "MeterValues", {"n": 2}).replay is not None


# --- TransactionEvent under a new message id --------------------------------------------


def test_transaction_event_resent_under_a_new_id_is_a_replay() -> None:
    memory = Replays()
    deliver(memory, "te-1", "TransactionEvent", event(3))
    again = memory.arrive("queue-1", "TransactionEvent", event(3))
    assert again.replay == Replay({"answer-of": "te-1"}, "seq_no")
    assert not again.seq_conflict


def test_same_seq_no_with_another_payload_is_kept_and_flagged() -> None:
    memory = Replays()
    deliver(memory, "te-1", "TransactionEvent", event(3))
    other = memory.arrive("te-2", "TransactionEvent", event(3, charging_state="SuspendedEV"))
    assert (other.replay, other.seq_conflict) == (None, True)
    assert not memory.arrive("te-3", "TransactionEvent", event(4)).seq_conflict


@pytest.mark.parametrize(
    ("action", "payload", "expected", "why"),
    [
        ("TransactionEvent", event(3), ("tx-1", 3), "a 2.x event"),
        ("MeterValues", event(3), None, "another action"),
        ("TransactionEvent", {**event(3), "seqNo": True}, None, "a bool is no seqNo"),
        ("TransactionEvent", {**event(3), "seqNo": "3"}, None, "not yet schema-checked"),
        ("TransactionEvent", {**event(3), "transactionInfo": []}, None, "not an object"),
    ],
)
def test_event_key_reads_only_well_typed_transaction_events(action, payload, expected, why):
    assert event_key(action, payload) == expected, why


@pytest.mark.parametrize(
    "payload",
    [{"idToken": "\ud800"}, {"seqNo": 2**70}],
    ids=["lone surrogate (json.loads lets it through)", "integer over 64 bits"],
)
def test_payload_digest_takes_any_json_value(payload) -> None:
    assert payload_digest(payload) == payload_digest(dict(payload))
    assert payload_digest(payload) != payload_digest({})


# --- samples re-sent in new messages ----------------------------------------------------


def test_samples_delivered_before_are_dropped_from_a_new_message() -> None:
    memory = Replays()
    deliver(memory, "m-1", "MeterValues", {"n": 1}, [sample(0), sample(1, 1010.0)])
    # The offline batch again under a new id, plus one new sample; the message id and
    # receive time of a sample are not part of what it says.
    resent = [sample(0, message_id="m-2"), sample(1, 1010.0, received_at=T0), sample(2, 1020.0)]
    fresh = memory.fresh(resent)
    assert fresh.records == (resent[2],)
    assert fresh.dropped == 2


@pytest.mark.parametrize(
    ("changed", "why"),
    [
        ({"wh": 1001.0}, "another value"),
        ({"evse_id": 2}, "another EVSE"),
        ({"transaction_id": "8"}, "another transaction"),
        ({"context": "Transaction.End"}, "another context"),
        ({"phase": "L1"}, "a phase, not the total"),
    ],
)
def test_a_sample_differing_in_anything_it_says_is_kept(changed, why) -> None:
    memory = Replays()
    deliver(memory, "m-1", "MeterValues", {}, [sample(0)])
    assert memory.fresh([sample(0, **changed)]).dropped == 0, why


def test_a_transaction_event_delivered_before_is_dropped_whatever_its_delivery() -> None:
    # A 1.6 StopTransaction re-sent under a new id gives the same "ended" event again.
    memory = Replays()
    ended = TransactionEvent(
        ts=T0,
        station_id="CS-1",
        site_id="SITE-1",
        transaction_id="7",
        event_type="ended",
        source="ocpp1.6",
        message_id="m-1",
        received_at=T0,
        meter_wh=900.0,
    )
    deliver(memory, "m-1", "StopTransaction", {}, [ended])
    resent = ended.model_copy(update={"message_id": "m-2", "received_at": NOW, "seq_gap": 1})
    other = ended.model_copy(update={"meter_wh": 950.0})
    fresh = memory.fresh([resent, other])
    assert (fresh.records, fresh.dropped) == ((other,), 1)


def test_other_records_are_never_dropped_and_a_repeat_within_a_message_is() -> None:
    memory = Replays()
    letter = DeadLetter(source="ocpp1.6", reason="bad_value", detail="d", raw="[]", received_at=T0)
    deliver(memory, "m-1", "MeterValues", {}, [letter])
    fresh = memory.fresh([letter, sample(1), sample(1)])
    assert (fresh.records, fresh.dropped) == ((letter, sample(1)), 1)


def test_only_the_last_records_are_remembered() -> None:
    memory = Replays(records=2)
    deliver(memory, "m-1", "MeterValues", {}, [sample(0), sample(1), sample(2)])
    assert memory.fresh([sample(0), sample(1), sample(2)]).records == (sample(0),)


# --- seqNo gaps -------------------------------------------------------------------------


def seq_nos(*noted: int, **bounds: int) -> SeqNos:
    seq = SeqNos(**bounds)
    for n in noted:
        seq.note("tx", n)
    return seq


@pytest.mark.parametrize(
    ("noted", "seq_no", "started", "expected", "why"),
    [
        ((), 0, True, 0, "nothing comes before a Started event"),
        ((), 5, False, None, "first event seen is not Started: not known"),
        ((0, 1, 2), 3, False, 0, "in sequence"),
        ((0, 1), 4, False, 2, "2 and 3 missing"),
        ((0, 1, 4), 6, False, 3, "2, 3 and 5 missing"),
        ((0, 1, 3), 2, False, 0, "a late event filling the gap has nothing missing below it"),
        ((0, 1, 2), 1, False, 0, "a repeat"),
        ((5, 6), 9, False, 2, "counted from the lowest known, not from 0 (restart)"),
        ((5, 6), 3, False, None, "below everything known"),
        ((5, 6), 3, True, 0, "a late Started below everything known"),
    ],
)
def test_missing_before_counts_seq_nos_not_arrived(noted, seq_no, started, expected, why):
    assert seq_nos(*noted).missing_before("tx", seq_no, started=started) == expected, why


def test_a_late_event_fills_the_gap_for_the_events_after_it() -> None:
    seq = seq_nos(0, 1, 4)
    assert seq.missing_before("tx", 5, started=False) == 2
    seq.note("tx", 3)
    seq.note("tx", 2)
    assert seq.missing_before("tx", 5, started=False) == 0


def test_runs_are_merged_whatever_the_arrival_order() -> None:
    seq = seq_nos(4, 0, 2, 1, 3, 3)
    assert seq.missing_before("tx", 5, started=False) == 0
    assert seq._seen["tx"] == [(0, 4)]


def test_seq_memory_is_bounded_in_runs_and_transactions() -> None:
    seq = seq_nos(0, 2, 4, 6, runs=2)  # runs 0, 2, 4, 6: the lowest two are forgotten
    assert seq.missing_before("tx", 7, started=False) == 1  # 5, counted from 4
    seq = SeqNos(transactions=1)
    seq.note("tx-a", 0)
    seq.note("tx-b", 0)
    assert seq.missing_before("tx-a", 1, started=False) is None


def test_seq_gap_of_an_event_is_what_the_station_memory_knew_on_arrival(run_call) -> None:
    station = StationState()

    def arrive(message_id: str, seq_no: int) -> TransactionEvent:
        reading = {"timestamp": "2026-01-15T17:00:00Z", "sampledValue": [{"value": 10 + seq_no}]}
        payload = {**event(seq_no), "meterValue": [reading]}
        result = run_call(
            "TransactionEvent", payload, "ocpp2.0.1", message_id=message_id, station=station
        )
        assert isinstance(result, Accepted)
        arrival = station.replays.arrive(message_id, "TransactionEvent", payload)
        station.replays.accepted(arrival, station.replays.fresh(result.records), result.response)
        return result.records[0]

    gaps = [arrive(f"te-{n}", n).seq_gap for n in (0, 1, 4, 2, 5)]
    # 0 Started; 1 in order; 4 after 2 and 3 went missing; 2 arrives late (nothing missing
    # below it); 5 finds only 3 still missing.
    assert gaps == [0, 0, 2, 0, 1]


def test_an_event_handled_but_not_accepted_teaches_no_seq_no(run_call) -> None:
    # handle_call only reads the memory: a publish that failed leaves no trace.
    station = StationState()
    run_call("TransactionEvent", event(0), "ocpp2.0.1", station=station)
    result = run_call("TransactionEvent", event(1), "ocpp2.0.1", station=station)
    assert result.records[0].seq_gap is None  # still the first event it knows


def test_docstring_examples_run() -> None:
    assert doctest.testmod(replays).failed == 0
