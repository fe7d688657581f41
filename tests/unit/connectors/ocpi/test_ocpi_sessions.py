"""OCPI Sessions -> meter samples and session events (pure; hand-worked values)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.ocpi.sessions import Context, SessionState, patch_session, put_session
from connectors.ocpi.wire import Accepted, PartyRef, Rejected
from gridstream.records import MeterSample, TransactionEvent

FIXTURES = Path(__file__).parents[3] / "fixtures" / "ocpi" / "v2.2.1"
BEC = PartyRef("BE", "BEC")
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CTX = Context(received_at=NOW, source="ocpi2.2.1", site_of=lambda s: f"site-of-{s}")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def samples(result: Accepted | Rejected) -> dict[str, dict[str, float | None]]:
    assert isinstance(result, Accepted), result
    out = {}
    for r in result.records:
        if isinstance(r, MeterSample):
            out[r.ts.strftime("%H:%M:%S")] = {x.measurand: x.value for x in r.readings}
    return out


def events(result: Accepted | Rejected) -> list[tuple[str, str, float | None]]:
    assert isinstance(result, Accepted), result
    return [
        (r.event_type, r.ts.strftime("%H:%M:%S"), r.meter_wh)
        for r in result.records
        if isinstance(r, TransactionEvent)
    ]


def session(**changes: Any) -> dict[str, Any]:
    body = fixture("session_example_1_simple_start.json")
    body.update(country_code="BE", party_id="BEC", status="ACTIVE")
    body.update(changes)
    return body


def test_official_finished_session_gives_cumulative_registers_in_wh() -> None:
    # kwh 41.12 with ENERGY 120 + 41000: only Wh adds up (120 + 41000 = 41120 Wh).
    state, result = put_session(
        None, BEC, "101", fixture("session_example_2_short_finished.json"), CTX
    )
    imp, exp = "Energy.Active.Import.Register", "Energy.Active.Export.Register"
    assert samples(result) == {
        "22:39:09": {imp: 0.0, exp: 0.0, "Current.Import.Maximum": 30.0},
        "22:40:54": {imp: 120.0, exp: 0.0, "Current.Import.Minimum": 34.0},
        "23:07:09": {imp: 41120.0, exp: 0.0},  # PARKING_TIME is no reading
        "23:50:16": {imp: 41120.0, exp: 0.0},  # session end: the total
    }
    assert events(result) == [
        ("started", "22:39:09", 0.0),
        ("updated", "23:50:17", 41120.0),
        ("ended", "23:50:16", 41120.0),
    ]
    assert state is not None and state.unit == "Wh"
    sample = next(r for r in result.records if isinstance(r, MeterSample))  # type: ignore[union-attr]
    assert (sample.station_id, sample.site_id, sample.transaction_id, sample.connector_id) == (
        "BE*BEC*3256",
        "site-of-BE*BEC*3256",
        "101",
        1,
    )


def test_the_same_put_again_publishes_nothing() -> None:
    body = fixture("session_example_2_short_finished.json")
    state, _ = put_session(None, BEC, "101", body, CTX)
    _, again = put_session(state, BEC, "101", body, CTX)
    assert again == Accepted((), None, None)


def test_patch_appends_periods_and_the_same_patch_again_adds_nothing() -> None:
    state, _ = put_session(None, BEC, "101", session(last_updated="2020-03-09T10:17:09Z"), CTX)
    patch = {
        "kwh": 1.5,
        "charging_periods": [
            {"start_date_time": "2020-03-09T10:17:09Z",
             "dimensions": [{"type": "ENERGY", "volume": 1.5}, {"type": "POWER", "volume": 6}]}
        ],
        "last_updated": "2020-03-09T10:32:09Z",
    }  # fmt: skip
    state, first = patch_session(state, BEC, "101", patch, CTX)
    # One period, no end yet: the register at its start is 0; power 6 kW = 6000 W.
    assert samples(first) == {
        "10:17:09": {
            "Energy.Active.Import.Register": 0.0,
            "Energy.Active.Export.Register": 0.0,
            "Power.Active.Import": 6000.0,
        }
    }
    assert events(first) == [("updated", "10:32:09", 1500.0)]
    second = {
        "charging_periods": [
            {"start_date_time": "2020-03-09T10:32:09Z",
             "dimensions": [{"type": "ENERGY", "volume": 2.0}]}
        ],
        "kwh": 3.5,
        "last_updated": "2020-03-09T10:47:09Z",
    }  # fmt: skip
    state, more = patch_session(state, BEC, "101", second, CTX)
    # The second period starts after 1.5 kWh: register 1500 Wh at 10:32:09.
    assert samples(more) == {
        "10:32:09": {"Energy.Active.Import.Register": 1500.0, "Energy.Active.Export.Register": 0.0}
    }
    assert state is not None
    _, repeated = patch_session(state, BEC, "101", second, CTX)
    assert repeated == Accepted((), None, None)


def test_an_older_patch_after_a_newer_one_does_not_roll_back() -> None:
    state, _ = put_session(None, BEC, "101", session(last_updated="2020-03-09T10:17:09Z"), CTX)
    done = {"status": "COMPLETED", "kwh": 5.0, "end_date_time": "2020-03-09T11:00:00Z",
            "last_updated": "2020-03-09T11:00:01Z"}  # fmt: skip
    state, ended = patch_session(state, BEC, "101", done, CTX)
    assert [e[0] for e in events(ended)] == ["updated", "ended"]
    late = {"status": "ACTIVE", "kwh": 2.0, "last_updated": "2020-03-09T10:40:00Z"}
    after, result = patch_session(state, BEC, "101", late, CTX)
    assert isinstance(result, Accepted) and result.records == () and result.note
    assert isinstance(after, SessionState)
    assert (after.fields["status"], after.fields["kwh"]) == ("COMPLETED", 5.0)


def test_v2x_discharge_sent_as_negative_import_is_export() -> None:
    periods = [
        {"start_date_time": "2026-01-01T10:00:00Z",
         "dimensions": [{"type": "ENERGY_IMPORT", "volume": -2.5},
                        {"type": "POWER", "volume": -10}]},
        {"start_date_time": "2026-01-01T10:15:00Z",
         "dimensions": [{"type": "ENERGY_EXPORT", "volume": -1.0}]},
    ]  # fmt: skip
    body = session(
        start_date_time="2026-01-01T10:00:00Z",
        end_date_time="2026-01-01T10:30:00Z",
        kwh=0.0,
        status="COMPLETED",
        charging_periods=periods,
        last_updated="2026-01-01T10:30:00Z",
    )
    _, result = put_session(None, BEC, "101", body, CTX)
    imp, exp = "Energy.Active.Import.Register", "Energy.Active.Export.Register"
    # Export: 2.5 kWh in the first period, 1.0 in the second (sign ignored) = 3500 Wh.
    assert samples(result) == {
        "10:00:00": {imp: 0.0, exp: 0.0, "Power.Active.Export": 10000.0},
        "10:15:00": {imp: 0.0, exp: 2500.0},
        "10:30:00": {imp: 0.0, exp: 3500.0},
    }


def test_a_session_without_energy_periods_takes_its_register_from_kwh() -> None:
    _, result = put_session(
        None, BEC, "101", session(kwh=7.25, last_updated="2020-03-09T11:00:00Z"), CTX
    )
    assert samples(result) == {
        "10:17:09": {"Energy.Active.Import.Register": 0.0},
        "11:00:00": {"Energy.Active.Import.Register": 7250.0},
    }


def test_bad_requests_are_rejected_with_their_reason() -> None:
    state, _ = put_session(None, BEC, "101", session(), CTX)
    cases = [
        # (why, result, expected reason)
        ("PATCH without last_updated", patch_session(state, BEC, "101", {"kwh": 1.0}, CTX),
         "schema_violation"),
        ("PATCH of a session never PUT",
         patch_session(None, BEC, "9", {"last_updated": "2020-03-09T10:17:09Z"}, CTX),
         "unknown_object"),
        ("object id differs from the URL", put_session(None, BEC, "102", session(), CTX),
         "id_mismatch"),
        ("object party differs from the URL",
         put_session(None, PartyRef("NL", "BEC"), "101", session(), CTX), "id_mismatch"),
        ("required field missing", put_session(None, BEC, "101", session(currency=None), CTX),
         "schema_violation"),
        ("unknown status", put_session(None, BEC, "101", session(status="DONE"), CTX),
         "schema_violation"),
        ("unknown dimension",
         put_session(None, BEC, "101", session(charging_periods=[
             {"start_date_time": "2020-03-09T10:17:09Z",
              "dimensions": [{"type": "WATTS", "volume": 1}]}]), CTX),
         "schema_violation"),
    ]  # fmt: skip
    for why, (_, result), expected in cases:
        assert isinstance(result, Rejected), why
        assert result.reason_code == expected, why
