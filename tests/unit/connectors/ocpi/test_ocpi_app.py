"""The OCPI receiver over HTTP (Starlette test client): envelope, auth, parties, handshake."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from gridstream.records import MeterSample, OcpiCdr, TransactionEvent

from .conftest import Harness

FIXTURES = Path(__file__).parents[3] / "fixtures" / "ocpi" / "v2.2.1"
SESSION_URL = "/ocpi/2.2.1/sessions/BE/BEC/101"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


async def test_versions_and_details_answer_in_the_envelope_with_token_a(harness: Harness) -> None:
    answer = await harness.client.get(
        "/ocpi/versions", headers={**harness.header(harness.token_a), "X-Request-ID": "r-1",
                                   "X-Correlation-ID": "c-1"}
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.json() == {
        "data": [
            {"version": "2.2.1", "url": "http://127.0.0.1:9001/ocpi/2.2.1"},
            {"version": "2.3.0", "url": "http://127.0.0.1:9001/ocpi/2.3.0"},
        ],
        "status_code": 1000,
        "timestamp": "2026-12-03T09:00:00Z",
    }
    assert (answer.headers["X-Request-ID"], answer.headers["X-Correlation-ID"]) == ("r-1", "c-1")
    details = (
        await harness.client.get("/ocpi/2.2.1", headers=harness.header(harness.token_a))
    ).json()
    assert {(e["identifier"], e["role"]) for e in details["data"]["endpoints"]} == {
        ("credentials", "RECEIVER"),
        ("sessions", "RECEIVER"),
        ("cdrs", "RECEIVER"),
        ("locations", "RECEIVER"),
        ("chargingprofiles", "SENDER"),  # the SCSP/eMSP side, in OCPI's words
    }


async def test_tokens_are_read_base64_with_a_newline_and_raw(harness: Harness) -> None:
    with_newline = base64.b64encode((harness.token_a + "\n").encode()).decode()
    for header in (f"Token {with_newline}", f"Token {harness.token_a}"):
        answer = await harness.client.get("/ocpi/versions", headers={"Authorization": header})
        assert answer.json()["status_code"] == 1000, header


async def test_no_token_or_an_unknown_one_is_401_and_dead_lettered(harness: Harness) -> None:
    for headers in ({}, {"Authorization": "Token bm9wZQ=="}):
        answer = await harness.client.put(SESSION_URL, json={}, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["status_code"] == 2000
    assert [d.reason for d in harness.dead] == ["unauthorized", "unauthorized"]


async def test_token_a_is_refused_on_modules(harness: Harness) -> None:
    body = fixture("session_example_2_short_finished.json")
    answer = await harness.client.put(
        SESSION_URL, json=body, headers=harness.header(harness.token_a)
    )
    assert answer.status_code == 401
    assert harness.published == []


async def test_registration_swaps_token_a_for_token_c(harness: Harness) -> None:
    token_c = await harness.register()
    partner = harness.receiver.partners.partners()[0]
    assert (partner.token_b, partner.version, partner.registered) == ("token-b", "2.2.1", True)
    # Token A no longer works; token C does, on modules too.
    assert (
        await harness.client.get("/ocpi/versions", headers=harness.header(harness.token_a))
    ).status_code == 401
    body = fixture("session_example_2_short_finished.json")
    answer = await harness.client.put(SESSION_URL, json=body, headers=harness.header(token_c))
    assert answer.json()["status_code"] == 1000
    # Unregistering makes token C useless.
    assert (
        await harness.client.delete("/ocpi/2.2.1/credentials", headers=harness.header(token_c))
    ).json()["status_code"] == 1000
    assert (
        await harness.client.put(SESSION_URL, json=body, headers=harness.header(token_c))
    ).status_code == 401


async def test_registration_without_a_common_version_is_3002(harness_factory: Any) -> None:
    harness = harness_factory([{"version": "2.1.1", "url": "http://partner.test/2.1.1"}])
    creds = {"token": "token-b", "url": "http://partner.test/ocpi/versions",
             "roles": [{"role": "CPO", "country_code": "BE", "party_id": "BEC"}]}  # fmt: skip
    answer = await harness.client.post(
        "/ocpi/2.2.1/credentials", json=creds, headers=harness.header(harness.token_a)
    )
    assert answer.json()["status_code"] == 3002
    assert not harness.receiver.partners.partners()[0].registered


async def test_a_session_put_publishes_its_records_before_the_answer(harness: Harness) -> None:
    token_c = await harness.register()
    body = fixture("session_example_2_short_finished.json")
    answer = await harness.client.put(SESSION_URL, json=body, headers=harness.header(token_c))
    assert answer.json()["status_code"] == 1000
    kinds = [type(r).__name__ for r in harness.published]
    # started, updated, ended; samples at the three period starts and the end.
    assert kinds == ["TransactionEvent"] * 3 + ["MeterSample"] * 4
    assert all(r.source == "ocpi2.2.1" for r in harness.published)  # type: ignore[attr-defined]


async def test_a_partner_cannot_write_another_partners_session(harness: Harness) -> None:
    token_c = await harness.register()
    body = fixture("session_example_1_simple_start.json")  # NL*STK's session
    answer = await harness.client.put(
        "/ocpi/2.2.1/sessions/NL/STK/101", json=body, headers=harness.header(token_c)
    )
    assert (answer.status_code, answer.json()["status_code"]) == (403, 2001)
    assert harness.published == []
    assert [(d.reason, d.station_id) for d in harness.dead] == [("foreign_party", "BE*BEC")]
    # The driver's token is pseudonymised in the dead letter.
    assert "123abc" not in harness.dead[0].raw and "hmac:" in harness.dead[0].raw


async def test_a_bad_session_gets_2001_and_lands_in_the_dead_letters(harness: Harness) -> None:
    token_c = await harness.register()
    answer = await harness.client.patch(
        SESSION_URL, json={"kwh": 3}, headers=harness.header(token_c)
    )
    assert (answer.status_code, answer.json()["status_code"]) == (400, 2001)
    assert harness.dead[-1].reason == "schema_violation"
    assert harness.dead[-1].raw.startswith("PATCH /ocpi/2.2.1/sessions/BE/BEC/101\n")
    not_json = await harness.client.put(SESSION_URL, content=b"{", headers=harness.header(token_c))
    assert not_json.json()["status_code"] == 2001


async def test_a_failed_publish_keeps_nothing_so_the_retry_counts(harness: Harness) -> None:
    token_c = await harness.register()
    body = fixture("session_example_2_short_finished.json")
    harness.fail_publish[0] = True
    answer = await harness.client.put(SESSION_URL, json=body, headers=harness.header(token_c))
    assert (answer.status_code, answer.json()["status_code"]) == (503, 3000)
    harness.fail_publish[0] = False
    retry = await harness.client.put(SESSION_URL, json=body, headers=harness.header(token_c))
    assert retry.json()["status_code"] == 1000
    assert len([r for r in harness.published if isinstance(r, MeterSample)]) == 4


async def test_a_cdr_is_posted_once_and_answered_with_its_location(harness: Harness) -> None:
    token_c = await harness.register()
    cdr = fixture("cdr_example.json")
    answer = await harness.client.post(
        "/ocpi/2.2.1/cdrs", json=cdr, headers=harness.header(token_c)
    )
    assert answer.json()["status_code"] == 1000, answer.text
    assert answer.headers["Location"] == "http://127.0.0.1:9001/ocpi/2.2.1/cdrs/BE/BEC/12345"
    again = await harness.client.post("/ocpi/2.2.1/cdrs", json=cdr, headers=harness.header(token_c))
    assert again.json()["status_code"] == 1000
    records = [r for r in harness.published if isinstance(r, OcpiCdr)]
    assert len(records) == 1
    # total_energy 15.342 kWh = 15,342 Wh; total_time 1.973 h = 7,102.8 s.
    assert (records[0].total_energy_wh, records[0].total_time_s) == (15342.0, 7102.8)
    assert records[0].station_id == "BE*BEC*3256"


async def test_events_carry_the_session_energy(harness: Harness) -> None:
    token_c = await harness.register()
    body = fixture("session_example_2_short_finished.json")
    await harness.client.put(SESSION_URL, json=body, headers=harness.header(token_c))
    ended = [r for r in harness.published if isinstance(r, TransactionEvent)][-1]
    assert (ended.event_type, ended.meter_wh) == ("ended", 41120.0)


async def test_the_openapi_document_lists_every_route(harness: Harness) -> None:
    doc = (await harness.client.get("/ocpi/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {
        "/ocpi/versions",
        "/ocpi/{version}",
        "/ocpi/{version}/credentials",
        "/ocpi/{version}/sessions/{country_code}/{party_id}/{session_id}",
        "/ocpi/{version}/cdrs",
        "/ocpi/{version}/locations/{country_code}/{party_id}/{location_id}",
        "/ocpi/{version}/chargingprofiles/{session_id}",
        "/ocpi/{version}/chargingprofiles/{session_id}/{request_id}",
    }


async def test_only_the_most_recent_ended_sessions_are_held(harness: Harness) -> None:
    harness.receiver.max_ended_sessions = 2
    token_c = await harness.register()
    body = fixture("session_example_2_short_finished.json")  # COMPLETED
    for sid in ("1", "2", "3"):
        url = f"/ocpi/2.2.1/sessions/BE/BEC/{sid}"
        answer = await harness.client.put(
            url, json={**body, "id": sid}, headers=harness.header(token_c)
        )
        assert answer.json()["status_code"] == 1000
    assert sorted(k[2] for k in harness.receiver.sessions) == ["2", "3"]


async def test_a_body_over_the_limit_is_refused_unread_and_dead_lettered(harness: Harness) -> None:
    token_c = await harness.register()
    huge = b'{"kwh": 1, "pad": "' + b"x" * (1 << 20) + b'"}'
    answer = await harness.client.put(SESSION_URL, content=huge, headers=harness.header(token_c))
    assert (answer.status_code, answer.json()["status_code"]) == (413, 2001)
    assert harness.dead[-1].reason == "too_large"
    assert len(harness.dead[-1].raw) < 5000  # only the head is kept
