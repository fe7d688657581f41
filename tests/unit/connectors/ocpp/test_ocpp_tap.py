"""The proxy-mode tap (pure): which forwarded frames become records, and with which ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.ocpp.parse import Rejected
from connectors.ocpp.replays import Replay
from connectors.ocpp.tap import CsmsAnswer, StationTap, Tapped, TappedStation
from gridstream.records import MeterSample, TransactionEvent

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
KEY = b"tap-test-id-token-key"
SITE = "SITE-1"


def call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, message_id, action, payload])


def result(message_id: str, payload: dict[str, Any]) -> str:
    return json.dumps([3, message_id, payload])


def error(message_id: str) -> str:
    return json.dumps([4, message_id, "InternalError", "down", {}])


def start(meter_start: int = 1000, ts: str = "2026-01-15T17:00:00Z") -> dict[str, Any]:
    return {"connectorId": 2, "idTag": "TAG-1", "meterStart": meter_start, "timestamp": ts}


def meter_values(wh: int, tx: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": 2,
        "meterValue": [
            {
                "timestamp": "2026-01-15T17:15:00Z",
                "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }
    if tx is not None:
        payload["transactionId"] = tx
    return payload


@pytest.fixture
def tap() -> StationTap:
    return StationTap("CS-1", "ocpp1.6", TappedStation(), KEY)


def through(tap: StationTap, station_frame: str, csms_frame: str) -> Any:
    """Forward a station CALL and the CSMS's answer; what the tap makes of the pair."""
    assert tap.from_station(station_frame, NOW, SITE) is None  # nothing until answered
    answer = tap.from_csms(csms_frame)
    assert isinstance(answer, CsmsAnswer)
    return tap.tap(answer, SITE)


def events(tapped: Tapped) -> list[TransactionEvent]:
    return [r for r in tapped.records if isinstance(r, TransactionEvent)]


def test_a_call_is_read_when_the_csms_accepts_it(tap: StationTap) -> None:
    tapped = through(tap, call("m-1", "MeterValues", meter_values(1500)), result("m-1", {}))
    assert isinstance(tapped, Tapped)
    [sample] = tapped.records
    assert isinstance(sample, MeterSample)
    assert (sample.station_id, sample.site_id, sample.received_at) == ("CS-1", SITE, NOW)
    assert sample.readings[0].value == 1500.0


def test_a_callerror_from_the_csms_taps_nothing_and_ends_the_call(tap: StationTap) -> None:
    assert through(tap, call("m-1", "MeterValues", meter_values(1500)), error("m-1")) is None
    assert tap.from_csms(result("m-1", {})) is None  # answered once; no longer waiting


def test_start_records_carry_the_csms_transaction_id_and_the_stop_finds_its_connector(
    tap: StationTap,
) -> None:
    started = through(
        tap, call("m-1", "StartTransaction", start()), result("m-1", {"transactionId": 4242})
    )
    stop = {"transactionId": 4242, "meterStop": 2500, "timestamp": "2026-01-15T17:30:00Z"}
    ended = through(tap, call("m-2", "StopTransaction", stop), result("m-2", {}))
    [opened] = events(started)
    [closed] = events(ended)
    assert (opened.transaction_id, opened.evse_id) == ("4242", 2)
    # The stop names only the CSMS's id; its connector comes from the tapped start.
    assert (closed.transaction_id, closed.evse_id) == ("4242", 2)
    assert {s.transaction_id for s in started.records + ended.records} == {"4242"}


def test_a_station_reusing_a_message_id_gets_the_csms_new_transaction_id(
    tap: StationTap,
) -> None:
    # Firmware whose message ids restart at 1 after a reboot: same id, a new session.
    first = through(
        tap, call("7", "StartTransaction", start()), result("7", {"transactionId": 100})
    )
    tap.stored(first)
    later = start(meter_start=5000, ts="2026-01-15T19:00:00Z")
    second = through(tap, call("7", "StartTransaction", later), result("7", {"transactionId": 200}))
    assert [e.transaction_id for e in events(second)] == ["200"]


def test_a_call_delivered_before_publishes_nothing_once_stored(tap: StationTap) -> None:
    frame = call("m-1", "MeterValues", meter_values(1500))
    first = through(tap, frame, result("m-1", {}))
    # Not stored yet (the broker failed): the retransmission is read again for real.
    assert isinstance(through(tap, frame, result("m-1", {})), Tapped)
    tap.stored(first)
    assert isinstance(through(tap, frame, result("m-1", {})), Replay)


def test_a_start_answer_without_an_integer_transaction_id_is_a_bad_value(
    tap: StationTap,
) -> None:
    frame = call("m-1", "StartTransaction", start())
    rejected = through(tap, frame, result("m-1", {"transactionId": "4242"}))
    assert isinstance(rejected, Rejected)
    assert (rejected.reason_code, rejected.raw, rejected.message_id) == ("bad_value", frame, "m-1")


def test_a_frame_the_core_cannot_read_is_rejected_as_it_passes(tap: StationTap) -> None:
    rejected = tap.from_station("not OCPP", NOW, SITE)
    assert isinstance(rejected, Rejected)
    assert (rejected.reason_code, rejected.raw) == ("malformed_frame", "not OCPP")


def test_a_schema_invalid_call_is_rejected_only_if_the_csms_accepts_it(tap: StationTap) -> None:
    invalid = call("m-1", "MeterValues", {"connectorId": "one", "meterValue": []})
    assert through(tap, invalid, error("m-1")) is None  # the CSMS refused it too
    rejected = through(tap, invalid, result("m-1", {}))  # the CSMS took what we cannot read
    assert isinstance(rejected, Rejected)
    assert rejected.reason_code == "schema_violation"


def test_an_action_the_core_does_not_read_is_left_to_the_csms(tap: StationTap) -> None:
    assert through(tap, call("m-1", "AcmeVendorThing", {}), result("m-1", {})) is None


def test_the_csms_calls_and_the_stations_answers_do_not_disturb_a_waiting_call(
    tap: StationTap,
) -> None:
    # Ids are per sender: the CSMS may use "1" for its own CALL while the station's "1" waits.
    assert tap.from_station(call("1", "MeterValues", meter_values(1500)), NOW, SITE) is None
    assert tap.from_csms(call("1", "RemoteStartTransaction", {"idTag": "T"})) is None
    assert tap.from_station(result("1", {"status": "Accepted"}), NOW, SITE) is None
    answer = tap.from_csms(result("1", {}))
    assert answer is not None
    assert answer.call.frame.action == "MeterValues"


def test_calls_the_csms_never_answers_are_counted_unanswered() -> None:
    tap = StationTap("CS-1", "ocpp1.6", TappedStation(), KEY, max_pending=2)
    for message_id in ("a", "b", "c"):
        tap.from_station(call(message_id, "Heartbeat", {}), NOW, SITE)
    assert tap.unanswered == 1  # "a" forgotten beyond two waiting
    assert tap.from_csms(result("a", {})) is None
    assert tap.close() == 3  # and "b", "c" still waiting when the connection ended


def test_a_21_send_is_read_as_it_passes() -> None:
    tap = StationTap("CS-21", "ocpp2.1", TappedStation(), KEY)
    data = {"id": 3, "pending": 0, "basetime": "2026-01-15T17:00:00Z", "data": [{"t": 0, "v": "1"}]}
    tapped = tap.from_station(json.dumps([6, "s-1", "NotifyPeriodicEventStream", data]), NOW, SITE)
    assert isinstance(tapped, Tapped)
    [sample] = tapped.records
    assert isinstance(sample, MeterSample)
    assert (sample.message_id, sample.ts) == ("s-1", datetime(2026, 1, 15, 17, tzinfo=UTC))


PROFILE_16 = {
    "connectorId": 2,
    "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": "2026-01-15T18:00:00Z", "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000.0}],
        },
    },
}  # fmt: skip


def test_a_profile_the_station_accepts_is_tapped_at_its_answer(tap: StationTap) -> None:
    # The CSMS's SetChargingProfile goes to the station; its Accepted comes back.
    assert tap.from_csms(call("csms-7", "SetChargingProfile", PROFILE_16)) is None
    tapped = tap.from_station(result("csms-7", {"status": "Accepted"}), NOW, SITE)
    assert isinstance(tapped, Tapped)
    [limit] = tapped.records
    assert (limit.station_id, limit.site_id, limit.evse_id) == ("CS-1", SITE, 2)  # type: ignore[attr-defined]
    assert (limit.limit_w, limit.received_at, limit.action) == (7_000, NOW, "SetChargingProfile")  # type: ignore[attr-defined]
    tap.stored(tapped)
    # The same CALL (same id and payload) sent again is not tapped twice.
    tap.from_csms(call("csms-7", "SetChargingProfile", PROFILE_16))
    assert tap.from_station(result("csms-7", {"status": "Accepted"}), NOW, SITE) is None


@pytest.mark.parametrize(
    "answer",
    [result("csms-8", {"status": "Rejected"}), error("csms-8")],
)
def test_a_profile_the_station_refuses_taps_nothing(tap: StationTap, answer: str) -> None:
    tap.from_csms(call("csms-8", "SetChargingProfile", PROFILE_16))
    assert tap.from_station(answer, NOW, SITE) is None


def test_a_profile_outside_the_schema_taps_nothing(tap: StationTap) -> None:
    broken = {"connectorId": 2, "csChargingProfiles": {"stackLevel": "high"}}
    tap.from_csms(call("csms-9", "SetChargingProfile", broken))
    assert tap.from_station(result("csms-9", {"status": "Accepted"}), NOW, SITE) is None
