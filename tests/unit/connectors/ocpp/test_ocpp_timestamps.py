"""Station clocks: which sample times are kept, which are repaired, and what stays for audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.ocpp import Accepted, Rejected
from connectors.ocpp.sessions import StationState
from connectors.ocpp.timestamps import EARLIEST_STATION_TIME, MAX_CLOCK_SKEW, station_times
from gridstream.records import MeterSample, TransactionEvent

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)  # the conftest's receive time


def samples_of(result: Accepted | Rejected) -> list[MeterSample]:
    assert isinstance(result, Accepted), result
    return [r for r in result.records if isinstance(r, MeterSample)]


@pytest.mark.parametrize(
    "ts",
    [
        NOW - timedelta(hours=5),  # an offline batch, within the default 6 h lateness
        NOW - timedelta(days=3),  # older than any lateness: the computation judges that
        NOW + MAX_CLOCK_SKEW,  # ahead, but within the bound: clocks drift
        NOW + timedelta(seconds=2),  # a clock a little ahead
        EARLIEST_STATION_TIME,  # the first instant believed
    ],
)
def test_a_plausible_time_is_kept_as_sent(ts) -> None:
    assert station_times([ts], NOW) == [(ts, None)]


@pytest.mark.parametrize(
    ("ts", "said"),
    [
        (NOW + MAX_CLOCK_SKEW + timedelta(seconds=1), "2026-01-15T18:15:06Z"),
        (datetime(2031, 6, 1, tzinfo=UTC), "2031-06-01T00:00:00Z"),
        (datetime(1970, 1, 1, 0, 41, 10, tzinfo=UTC), "1970-01-01T00:41:10Z"),  # Unix epoch
        (datetime(2000, 1, 1, 3, 0, 0, 250_000, tzinfo=UTC), "2000-01-01T03:00:00.250000Z"),
        (EARLIEST_STATION_TIME - timedelta(microseconds=1), "2014-12-31T23:59:59.999999Z"),
    ],
)
def test_a_single_implausible_time_becomes_the_receive_time(ts, said) -> None:
    assert station_times([ts], NOW) == [(NOW, said)]


def test_an_empty_timestamp_becomes_the_receive_time() -> None:
    assert station_times([None], NOW) == [(NOW, "")]


def test_entries_of_an_unset_clock_keep_their_order_and_spacing() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    times = [epoch + timedelta(seconds=s) for s in (2470, 2530, 2590)]
    # the newest (00:43:10) is placed at the receive time, the others 60 and 120 s before it
    assert [ts for ts, _ in station_times(times, NOW)] == [
        NOW - timedelta(seconds=120),
        NOW - timedelta(seconds=60),
        NOW,
    ]


def test_only_the_wrong_times_of_a_message_move() -> None:
    good = NOW - timedelta(minutes=30)
    ahead = [NOW + timedelta(hours=2), NOW + timedelta(hours=2, minutes=1)]
    unset = datetime(2000, 1, 1, tzinfo=UTC)
    result = station_times([good, ahead[0], ahead[1], unset], NOW)
    # each kind by its own offset: the ahead pair ends at now, the lone unset one is now
    assert result == [
        (good, None),
        (NOW - timedelta(minutes=1), "2026-01-15T20:00:05Z"),
        (NOW, "2026-01-15T20:01:05Z"),
        (NOW, "2000-01-01T00:00:00Z"),
    ]


def _meter_values_16(*timestamps: str) -> dict[str, object]:
    return {
        "connectorId": 1,
        "meterValue": [
            {"timestamp": ts, "sampledValue": [{"value": str(1000 + 10 * i)}]}
            for i, ts in enumerate(timestamps)
        ],
    }


def test_16_clock_far_ahead_is_repaired_and_what_it_said_is_kept(run_call) -> None:
    (sample,) = samples_of(run_call("MeterValues", _meter_values_16("2026-01-15T20:00:05+01:00")))
    # +01:00: 19:00:05 UTC, an hour ahead of the receive time (more than 15 min)
    assert (sample.ts, sample.station_ts, sample.received_at) == (
        NOW,
        "2026-01-15T19:00:05Z",
        NOW,
    )


def test_16_unset_clock_batch_keeps_its_spacing(run_call) -> None:
    result = run_call(
        "MeterValues", _meter_values_16("1970-01-01T00:41:10Z", "1970-01-01T00:42:10Z")
    )
    assert [(s.ts, s.station_ts, s.readings[0].value) for s in samples_of(result)] == [
        (NOW - timedelta(minutes=1), "1970-01-01T00:41:10Z", 1000.0),
        (NOW, "1970-01-01T00:42:10Z", 1010.0),
    ]


def test_16_empty_timestamp_is_repaired_with_the_receive_time(run_call) -> None:
    (sample,) = samples_of(run_call("MeterValues", _meter_values_16("")))
    assert (sample.ts, sample.station_ts) == (NOW, "")


def test_two_empty_timestamps_in_one_message_are_rejected(run_call) -> None:
    result = run_call("MeterValues", _meter_values_16("", "2026-01-15T18:00:00Z", " "))
    # two entries without a time cannot be put in order: the station is told, the raw
    # frame goes to the dead letters
    assert isinstance(result, Rejected)
    assert (result.reason_code, result.ocpp_error_code) == (
        "bad_value",
        "PropertyConstraintViolation",
    )
    assert result.detail == (
        "meterValue[2].timestamp: empty, as meterValue[0].timestamp is: entries without a "
        "time cannot be put in order"
    )


def test_garbled_timestamp_is_still_a_bad_value(run_call) -> None:
    result = run_call("MeterValues", _meter_values_16("yesterday"))
    assert isinstance(result, Rejected) and result.reason_code == "bad_value"


def test_2x_offline_samples_keep_their_past_times(run_call) -> None:
    payload = {
        "evseId": 1,
        "meterValue": [
            {"timestamp": "2026-01-15T13:00:00Z", "sampledValue": [{"value": 100}]},
            {"timestamp": "2026-01-12T13:00:00Z", "sampledValue": [{"value": 50}]},
        ],
    }
    result = run_call("MeterValues", payload, source="ocpp2.0.1")
    assert [(s.ts, s.station_ts) for s in samples_of(result)] == [
        (datetime(2026, 1, 15, 13, 0, tzinfo=UTC), None),
        (datetime(2026, 1, 12, 13, 0, tzinfo=UTC), None),
    ]


def test_repaired_and_station_timed_entries_at_one_instant_stay_apart(run_call) -> None:
    # one entry at the receive time as the station says, one repaired to it: two samples,
    # so that the repaired one keeps its own station_ts
    result = run_call("MeterValues", _meter_values_16("2026-01-15T18:00:05Z", ""))
    assert [(s.ts, s.station_ts) for s in samples_of(result)] == [(NOW, None), (NOW, "")]


def test_a_session_started_and_stopped_by_a_clock_far_ahead_is_repaired_like_its_samples(
    run_call,
) -> None:
    ahead = "2026-01-15T19:00:05Z"  # an hour ahead of the receive time
    station = StationState()
    start = {"connectorId": 1, "idTag": "TAG", "meterStart": 100, "timestamp": ahead}
    started = run_call("StartTransaction", start, station=station)
    stop = {"transactionId": 1, "meterStop": 900, "timestamp": ahead}
    ended = run_call("StopTransaction", stop, station=station, message_id="m-2")
    for result in (started, ended):
        assert isinstance(result, Accepted), result
        (event,) = [r for r in result.records if isinstance(r, TransactionEvent)]
        (sample,) = samples_of(result)
        assert (event.ts, event.station_ts) == (sample.ts, sample.station_ts) == (NOW, ahead)


def test_a_2x_transaction_event_time_far_ahead_is_repaired(run_call) -> None:
    event = {
        "eventType": "Started",
        "timestamp": "2026-01-15T19:00:05Z",
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-1"},
        "evse": {"id": 1, "connectorId": 1},
    }
    result = run_call("TransactionEvent", event, source="ocpp2.0.1")
    assert isinstance(result, Accepted), result
    (record,) = [r for r in result.records if isinstance(r, TransactionEvent)]
    assert (record.ts, record.station_ts) == (NOW, "2026-01-15T19:00:05Z")


def test_a_plausible_event_time_is_kept_and_not_flagged(run_call) -> None:
    start = {
        "connectorId": 1,
        "idTag": "TAG",
        "meterStart": 100,
        "timestamp": "2026-01-15T17:00:00Z",
    }
    result = run_call("StartTransaction", start)
    assert isinstance(result, Accepted), result
    (event,) = [r for r in result.records if isinstance(r, TransactionEvent)]
    assert (event.ts, event.station_ts) == (datetime(2026, 1, 15, 17, tzinfo=UTC), None)
