"""OCPI ChargingProfiles (gridstream as the SCSP/eMSP): active profiles -> charging limits.

Worked by hand: an ampere limit is A per phase x 230 V x the connector's phases (3 when no
Location says); periods are relative to the ActiveChargingProfile's start_date_time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.ocpi.charging_profiles import (
    ProfileState,
    find_session,
    post_result,
    put_active_profile,
)
from connectors.ocpi.sessions import Context, SessionState
from connectors.ocpi.wire import Accepted, PartyRef, Rejected
from gridstream.records import ChargingLimit

from .conftest import Harness

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
BEC = PartyRef("BE", "BEC")
SESSION = SessionState(BEC, "S1", {"evse_uid": "E1", "location_id": "L1", "connector_id": "1"}, T0)


def ctx(minute: int = 0, request_id: str = "r-1") -> Context:
    received = T0 + timedelta(minutes=minute)
    return Context(received_at=received, source="ocpi2.2.1", site_of=lambda s: "SITE-L1",
                   request_id=request_id)  # fmt: skip


def active(
    start: str = "2026-01-15T10:00:00Z", unit: str = "A",
    periods: tuple[tuple[int, float], ...] = ((0, 16.0),), duration: int | None = None,
    **profile: Any,
) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "charging_rate_unit": unit,
        "charging_profile_period": [{"start_period": s, "limit": x} for s, x in periods],
        **profile,
    }
    if duration is not None:
        body["duration"] = duration
    return {"start_date_time": start, "charging_profile": body}


def limits_of(result: object) -> list[ChargingLimit]:
    assert isinstance(result, Accepted), result
    return [r for r in result.records if isinstance(r, ChargingLimit)]


def spans(limits: list[ChargingLimit]) -> list[tuple[str, str | None, float | None]]:
    return [
        (
            x.interval_start.strftime("%H:%M"),
            None if x.interval_end is None else x.interval_end.strftime("%H:%M"),
            x.limit_w,
        )
        for x in limits
    ]


def test_an_ampere_profile_on_three_phases_is_watts_at_230_v() -> None:
    body = active(periods=((0, 16.0), (1800, 10.0)), duration=3600)
    state, result = put_active_profile(None, SESSION, body, 3, ctx())
    # 16 A x 230 V x 3 = 11,040 W for 30 min; 10 A x 230 V x 3 = 6,900 W until 10:00 + 3,600 s
    assert spans(limits_of(result)) == [("10:00", "10:30", 11_040), ("10:30", "11:00", 6_900)]
    first = limits_of(result)[0]
    assert (first.station_id, first.site_id, first.evse_id, first.transaction_id) == (
        "BE*BEC*E1", "SITE-L1", 0, "S1",
    )  # fmt: skip
    assert (first.purpose, first.limit_source, first.profile_key) == (
        "TxProfile", "OCPI:BE*BEC", "BE*BEC*E1|session|S1",
    )  # fmt: skip
    assert (first.rate_unit, first.rate_limit, first.number_phases) == ("A", 16.0, 3)
    assert (first.source, first.action, first.message_id) == (
        "ocpi2.2.1", "ActiveChargingProfile", "r-1",
    )  # fmt: skip
    assert state is not None and state.start == T0


@pytest.mark.parametrize(
    "phases, watts",
    [
        (1, 3_680),  # AC_1_PHASE connector: 16 A x 230 V x 1
        (None, 11_040),  # no Location held: 3 phases, as ChargingLimit documents
    ],
)
def test_the_connectors_phases_scale_an_ampere_limit(phases: int | None, watts: float) -> None:
    _, result = put_active_profile(None, SESSION, active(), phases, ctx())
    [limit] = limits_of(result)
    assert (limit.limit_w, limit.number_phases) == (watts, phases)


def test_watts_are_kept_and_the_last_period_runs_on_without_a_duration() -> None:
    _, result = put_active_profile(None, SESSION, active(unit="W", periods=((0, 7_400),)), 3, ctx())
    [limit] = limits_of(result)
    assert (limit.rate_unit, limit.limit_w, limit.number_phases, limit.interval_end) == (
        "W", 7_400, None, None,
    )  # fmt: skip


def test_a_later_profile_replaces_from_its_start_and_keeps_the_periods_before_it() -> None:
    state, _ = put_active_profile(None, SESSION, active(), 3, ctx(0, "r-1"))
    later = active("2026-01-15T10:07:00Z", unit="W", periods=((0, 7_000),))
    new, result = put_active_profile(state, SESSION, later, 3, ctx(7, "r-2"))
    # 11,040 W from 10:00 is cut at 10:07, then 7,000 W: the quarter-hour stays covered
    assert spans(limits_of(result)) == [("10:00", "10:07", 11_040), ("10:07", None, 7_000)]
    # one message: the limit book keeps all its periods as the profile's one version
    assert {(x.received_at, x.message_id) for x in limits_of(result)} == {
        (T0 + timedelta(minutes=7), "r-2")
    }
    assert new is not None and new.start == T0 + timedelta(minutes=7)


def test_an_older_profile_or_the_same_one_again_publishes_nothing() -> None:
    state, _ = put_active_profile(None, SESSION, active("2026-01-15T10:07:00Z"), 3, ctx(7))
    older, result = put_active_profile(state, SESSION, active(), 3, ctx(8, "r-3"))
    assert older is state and isinstance(result, Accepted) and result.records == ()
    assert result.note and "before" in result.note
    again, result = put_active_profile(state, SESSION, active("2026-01-15T10:07:00Z"), 3, ctx(9))
    assert again is state and isinstance(result, Accepted) and result.records == ()


def test_a_limit_recomputed_unchanged_stays_one_period() -> None:
    state, _ = put_active_profile(None, SESSION, active(), 3, ctx(0, "r-1"))
    # 10:07: the charge point recomputed and still gives 16 A: nothing new to say
    same, result = put_active_profile(state, SESSION, active("2026-01-15T10:07:00Z"), 3, ctx(7))
    assert same is state and isinstance(result, Accepted) and result.records == ()
    # 10:09: 16 A for 6 more minutes, then 10 A: 10:00-10:15 one period, then 10:15 on
    later = active("2026-01-15T10:09:00Z", periods=((0, 16.0), (360, 10.0)))
    _, result = put_active_profile(state, SESSION, later, 3, ctx(9, "r-3"))
    assert spans(limits_of(result)) == [("10:00", "10:15", 11_040), ("10:15", None, 6_900)]


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"start_date_time": "2026-01-15T10:00:00Z"}, "schema_violation"),  # no profile
        (active(unit="kW"), "schema_violation"),  # W or A only
        ({**active(), "start_date_time": "yesterday"}, "schema_violation"),
        (active(periods=((0, -1.0),)), "bad_value"),  # a limit below 0
        (active(periods=((0, 16.0), (0, 10.0))), "bad_value"),  # two periods at one second
        (active(periods=((1.5, 16.0),)), "schema_violation"),  # start_period is an int
        (active(duration=-60), "bad_value"),
        (active(min_charging_rate="6"), "schema_violation"),
    ],
)
def test_a_bad_profile_is_rejected_with_its_reason(body: dict[str, Any], reason: str) -> None:
    state, result = put_active_profile(None, SESSION, body, 3, ctx())
    assert state is None and isinstance(result, Rejected) and result.reason_code == reason
    assert result.ocpi_status == 2001


@pytest.mark.parametrize("pid, numeric", [("cp-0001", None), ("42", 42), (None, None)])
def test_an_ocpi_3_profile_id_is_kept(pid: str | None, numeric: int | None) -> None:
    body = active(**({} if pid is None else {"id": pid}))
    _, result = put_active_profile(None, SESSION, body, 3, ctx())
    [limit] = limits_of(result)
    assert (limit.charging_profile_id, limit.profile_id) == (pid, numeric)


def test_only_an_accepted_active_profile_result_says_what_to_draw() -> None:
    _, result = post_result(None, SESSION, {"result": "ACCEPTED", "profile": active()}, 3, ctx())
    [limit] = limits_of(result)
    assert (limit.limit_w, limit.action) == (11_040, "ActiveChargingProfileResult")
    for body in ({"result": "ACCEPTED"}, {"result": "REJECTED", "profile": active()}):
        state, result = post_result(None, None, body, None, ctx())
        assert state is None and isinstance(result, Accepted) and result.records == ()
    _, result = post_result(None, None, {"result": "ACCEPTED", "profile": active()}, None, ctx())
    assert isinstance(result, Rejected) and result.reason_code == "unknown_session"
    _, result = post_result(None, None, {"result": "MAYBE"}, None, ctx())
    assert isinstance(result, Rejected) and result.reason_code == "schema_violation"


def test_a_session_is_found_among_the_partners_parties_only() -> None:
    held = {("BE", "BEC", "S1"): SESSION, ("NL", "XYZ", "S1"): SESSION}
    assert find_session(held, [BEC], "S1") is SESSION
    missing = find_session(held, [BEC], "S2")
    assert isinstance(missing, Rejected) and missing.reason_code == "unknown_session"
    assert missing.detail.startswith("UNKNOWN_SESSION")
    both = find_session(held, [BEC, PartyRef("NL", "XYZ")], "S1")
    assert isinstance(both, Rejected) and both.reason_code == "bad_value"


# -- over HTTP: the receiver's Sender interface ----------------------------------------

PROFILE_URL = "/ocpi/2.2.1/chargingprofiles/S1"
ACTIVE_SESSION = {
    "country_code": "BE", "party_id": "BEC", "id": "S1",
    "start_date_time": "2026-01-15T10:00:00Z", "kwh": 0.0,
    "cdr_token": {"country_code": "BE", "party_id": "BEC", "uid": "RFID1", "type": "RFID",
                  "contract_id": "BE-BEC-C1"},
    "auth_method": "WHITELIST", "location_id": "L1", "evse_uid": "E1", "connector_id": "1",
    "currency": "EUR", "status": "ACTIVE", "last_updated": "2026-01-15T10:00:00Z",
}  # fmt: skip
LOCATION = {
    "country_code": "BE", "party_id": "BEC", "id": "L1", "publish": True, "address": "a",
    "city": "Gent", "country": "BEL", "coordinates": {"latitude": "51.0", "longitude": "3.7"},
    "time_zone": "Europe/Brussels", "last_updated": "2026-01-01T00:00:00Z",
    "evses": [{"uid": "E1", "status": "CHARGING", "last_updated": "2026-01-01T00:00:00Z",
               "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                               "power_type": "AC_1_PHASE", "max_voltage": 230,
                               "max_amperage": 32, "last_updated": "2026-01-01T00:00:00Z"}]}],
}  # fmt: skip


async def with_session(harness: Harness) -> dict[str, str]:
    auth = harness.header(await harness.register())
    answer = await harness.client.put(
        "/ocpi/2.2.1/sessions/BE/BEC/S1", json=ACTIVE_SESSION, headers=auth
    )
    assert answer.json()["status_code"] == 1000
    harness.published.clear()
    return auth


async def test_a_put_active_profile_becomes_limits_and_is_answered_without_data(
    harness: Harness,
) -> None:
    auth = await with_session(harness)
    answer = await harness.client.put(PROFILE_URL, json=active(), headers=auth)
    assert answer.status_code == 200
    assert answer.json() == {"status_code": 1000, "timestamp": "2026-12-03T09:00:00Z"}
    [limit] = [r for r in harness.published if isinstance(r, ChargingLimit)]
    # No Location held: 16 A x 230 V x 3 = 11,040 W
    assert (limit.station_id, limit.transaction_id, limit.limit_w) == ("BE*BEC*E1", "S1", 11_040)
    assert isinstance(harness.receiver.profiles[("BE", "BEC", "S1")], ProfileState)


async def test_the_sessions_location_gives_the_phases(harness: Harness) -> None:
    auth = await with_session(harness)
    answer = await harness.client.put("/ocpi/2.2.1/locations/BE/BEC/L1", json=LOCATION,
                                      headers=auth)  # fmt: skip
    assert answer.json()["status_code"] == 1000
    await harness.client.put(PROFILE_URL, json=active(), headers=auth)
    [limit] = [r for r in harness.published if isinstance(r, ChargingLimit)]
    assert (limit.limit_w, limit.number_phases) == (3_680, 1)  # AC_1_PHASE: 16 x 230 x 1


async def test_a_profile_for_an_unknown_session_is_2001_and_dead_lettered(
    harness: Harness,
) -> None:
    auth = await with_session(harness)
    answer = await harness.client.put("/ocpi/2.2.1/chargingprofiles/S9", json=active(),
                                      headers=auth)  # fmt: skip
    assert (answer.status_code, answer.json()["status_code"]) == (404, 2001)
    assert answer.json()["status_message"].startswith("UNKNOWN_SESSION")
    assert [(d.reason, d.station_id) for d in harness.dead] == [("unknown_session", "BE*BEC")]
    assert harness.dead[0].raw.startswith("PUT /ocpi/2.2.1/chargingprofiles/S9\n")
    assert harness.published == []


async def test_a_bad_profile_is_2001_and_dead_lettered(harness: Harness) -> None:
    auth = await with_session(harness)
    answer = await harness.client.put(PROFILE_URL, json=active(unit="kW"), headers=auth)
    assert (answer.status_code, answer.json()["status_code"]) == (400, 2001)
    assert harness.dead[-1].reason == "schema_violation"
    assert harness.published == []


async def test_results_at_the_response_url_are_taken(harness: Harness) -> None:
    auth = await with_session(harness)
    cleared = await harness.client.post(PROFILE_URL + "/req-7", json={"result": "ACCEPTED"},
                                        headers=auth)  # fmt: skip
    # ChargingProfileResult / ClearProfileResult: taken, the note says why nothing came of it
    assert cleared.json() == {
        "status_code": 1000, "status_message": "result ACCEPTED, no profile: nothing to record",
        "timestamp": "2026-12-03T09:00:00Z",
    }  # fmt: skip
    assert harness.published == []
    got = await harness.client.post(PROFILE_URL, headers=auth,
                                    json={"result": "ACCEPTED", "profile": active()})  # fmt: skip
    assert got.json()["status_code"] == 1000
    [limit] = [r for r in harness.published if isinstance(r, ChargingLimit)]
    assert limit.action == "ActiveChargingProfileResult"
    bad = await harness.client.post(PROFILE_URL, json={"result": "OK"}, headers=auth)
    assert (bad.status_code, bad.json()["status_code"]) == (400, 2001)
    assert harness.dead[-1].reason == "schema_violation"


async def test_token_a_cannot_push_profiles(harness: Harness) -> None:
    answer = await harness.client.put(
        PROFILE_URL, json=active(), headers=harness.header(harness.token_a)
    )
    assert answer.status_code == 401
    assert harness.published == []


async def test_the_draft_route_keeps_the_ocpi_3_profile_id(harness: Harness) -> None:
    auth = await with_session(harness)
    answer = await harness.client.put(
        "/ocpi/3.0/chargingprofiles/S1", json=active(id="cp-0001"), headers=auth
    )
    assert answer.json()["status_code"] == 1000, answer.text
    [limit] = [r for r in harness.published if isinstance(r, ChargingLimit)]
    assert (limit.source, limit.charging_profile_id) == ("ocpi3.0", "cp-0001")
