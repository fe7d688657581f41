"""OCPP 1.6 normalisation against real traffic (MaEVe load test, mobilityhouse/ocpp tests)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from connectors.ocpp import Accepted, Rejected, Sessions16, StationState, hash_id_token
from gridstream.records import MeterSample, Reading, StationInfo, TransactionEvent

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
# The session's frames all carry 2023-09-18T08:25:40.20Z: ".20" is 200 000 microseconds.
SESSION_TS = datetime(2023, 9, 18, 8, 25, 40, 200_000, tzinfo=UTC)
REGISTER = "Energy.Active.Import.Register"


def register(wh: float, context: str) -> Reading:
    return Reading(measurand=REGISTER, value=wh, unit="Wh", location="Outlet", context=context)


def sample(message_id: str, readings: tuple[Reading, ...], **fields: object) -> MeterSample:
    defaults: dict[str, object] = dict(
        ts=SESSION_TS,
        station_id="CS-1",
        site_id="SITE-1",
        evse_id=1,
        connector_id=1,
        transaction_id=None,
        source="ocpp1.6",
        message_id=message_id,
        received_at=NOW,
    )
    return MeterSample(**(defaults | fields), readings=readings)


def session_updated(message_id: str, ts: datetime, evse: int, transaction_id: str):
    return TransactionEvent(
        ts=ts,
        station_id="CS-1",
        site_id="SITE-1",
        evse_id=evse,
        connector_id=evse,
        transaction_id=transaction_id,
        event_type="updated",
        source="ocpp1.6",
        message_id=message_id,
        received_at=NOW,
    )


@pytest.fixture
def maeve_session(load_fixture, run_frame) -> dict[str, Accepted | Rejected]:
    """Every frame of the MaEVe load-test session, in order, on one station, by message id."""
    # The load test hard-codes StopTransaction transactionId 3: let this CSMS assign 3.
    station = StationState(sessions16=Sessions16(allocate=itertools.count(3).__next__))
    frames = load_fixture("v1.6_maeve_loadtest_session.frames.json")
    return {frame[1]: run_frame(frame, "ocpp1.6", station) for frame in frames}


def test_maeve_meter_value_5_alone_is_5_wh_import_register_at_outlet(maeve_session):
    # {"value": "5"}: every default applies (PROTOCOLS.md §7): Energy.Active.Import.Register,
    # Wh, Outlet, Sample.Periodic; no transactionId in the frame, so none in the sample.
    expected = sample("12", (register(5.0, "Sample.Periodic"),))
    assert maeve_session["12"] == Accepted(records=(expected,), response={})


def test_maeve_repeated_meter_values_are_both_kept_under_their_own_message_ids(maeve_session):
    # Frames 12 and 13 are identical but for the id: deduplication is downstream's job.
    assert maeve_session["13"].records == (sample("13", (register(5.0, "Sample.Periodic"),)),)


def test_maeve_start_transaction_gives_started_event_and_begin_register(
    maeve_session, id_token_key
):
    # meterStart 3 (Wh) -> meter_wh 3.0 and a Transaction.Begin register reading of 3 Wh.
    event = TransactionEvent(
        ts=SESSION_TS,
        station_id="CS-1",
        site_id="SITE-1",
        evse_id=1,
        connector_id=1,
        transaction_id="3",
        event_type="started",
        source="ocpp1.6",
        message_id="8",
        received_at=NOW,
        meter_wh=3.0,
        id_token_hash=hash_id_token("38748383L7337848H823", id_token_key),
    )
    begin = sample("8", (register(3.0, "Transaction.Begin"),), transaction_id="3")
    assert maeve_session["8"] == Accepted(
        records=(event, begin),
        response={"transactionId": 3, "idTagInfo": {"status": "Accepted"}},
    )


def test_maeve_stop_transaction_finds_connector_and_defaults_reason_to_local(
    maeve_session, id_token_key
):
    # StopTransaction carries no connectorId: connector 1 comes from the start (id 3).
    # meterStop 3 is below the last reading (5): kept as sent, downstream starts a segment.
    result = maeve_session["14"]
    assert isinstance(result, Accepted)
    event, end = result.records
    assert event == TransactionEvent(
        ts=SESSION_TS,
        station_id="CS-1",
        site_id="SITE-1",
        evse_id=1,
        connector_id=1,
        transaction_id="3",
        event_type="ended",
        source="ocpp1.6",
        message_id="14",
        received_at=NOW,
        stopped_reason="Local",
        meter_wh=3.0,
        id_token_hash=hash_id_token("38748383L7337848H823", id_token_key),
    )
    assert end == sample("14", (register(3.0, "Transaction.End"),), transaction_id="3")
    assert result.response == {"idTagInfo": {"status": "Accepted"}}


def test_maeve_boot_registers_the_station_and_heartbeat_and_status_give_no_records(
    maeve_session,
):
    # BootNotification {"chargePointModel": "me100", "chargePointVendor": "me"}.
    assert maeve_session["1"] == Accepted(
        records=(
            StationInfo(
                station_id="CS-1",
                received_at=NOW,
                source="ocpp1.6",
                vendor="me",
                model="me100",
                message_id="1",
            ),
        ),
        response={"status": "Accepted", "currentTime": "2026-01-15T18:00:05.000Z", "interval": 300},
    )
    assert maeve_session["3"] == Accepted(
        records=(), response={"currentTime": "2026-01-15T18:00:05.000Z"}
    )
    for status_id in ("2", "7", "15", "16"):
        assert maeve_session[status_id] == Accepted(records=(), response={})


def test_maeve_authorize_is_accepted_because_this_csms_does_not_authorise(maeve_session):
    # gridstream holds no token list (connectors/ocpp/answers.py, README): every idTag is
    # Accepted, and nothing is published for it.
    answer = {"idTagInfo": {"status": "Accepted"}}
    assert maeve_session["6"] == Accepted(records=(), response=answer)


def test_total_and_phase_readings_are_both_kept_with_phase_set(load_fixture, run_frame):
    payload = load_fixture("v1.6_mobilityhouse_metervalues_total_and_phase.payload.json")
    result = run_frame([2, "mv-1", "MeterValues", payload], "ocpp1.6", StationState())
    total = Reading(
        measurand="Power.Active.Import",
        value=10.0,
        unit="W",
        location="Outlet",
        context="Sample.Periodic",
    )
    l1 = total.model_copy(update={"value": 50000.0, "phase": "L1"})
    common = dict(evse_id=3, connector_id=3, transaction_id="5")
    # Two meterValue entries, kept in the order sent (the second is the earlier one);
    # "+00:00" is UTC already.
    first = datetime(2017, 8, 17, 7, 8, 6, 186748, tzinfo=UTC)
    second = datetime(2017, 8, 17, 7, 7, 7, 186748, tzinfo=UTC)
    # transactionId 5: an "updated" session event at the latest instant comes first; no
    # import register among the readings, so no meter_wh.
    updated = session_updated("mv-1", first, evse=3, transaction_id="5")
    assert result == Accepted(
        records=(
            updated,
            sample("mv-1", (total, l1), ts=first, **common),
            sample("mv-1", (total, l1), ts=second, **common),
        ),
        response={},
    )


def test_hertz_frame_gives_frequency_50_hz(load_fixture, run_frame):
    frame = load_fixture("v1.6_mobilityhouse_metervalues_frequency_hertz.frame.json")
    result = run_frame(frame, "ocpp1.6", StationState())
    # "50.0" Hertz (errata 3.84) -> 50.0 Hz; location and context by default.
    frequency = Reading(
        measurand="Frequency", value=50.0, unit="Hz", location="Outlet", context="Sample.Periodic"
    )
    ts = datetime(2020, 2, 21, 13, 48, 45, 459756, tzinfo=UTC)
    expected = sample("1234", (frequency,), ts=ts, transaction_id="123456789")
    updated = session_updated("1234", ts, evse=1, transaction_id="123456789")
    assert result == Accepted(records=(updated, expected), response={})


def test_every_record_of_the_session_round_trips_through_json(maeve_session):
    for result in maeve_session.values():
        for record in getattr(result, "records", ()):
            assert type(record).from_json(record.to_json()) == record
