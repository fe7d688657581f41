"""Contract tests: the OCPI connector against the reference examples in tests/fixtures/ocpi."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.ocpi.cdrs import post_cdr
from connectors.ocpi.charging_profiles import put_active_profile
from connectors.ocpi.handshake import read_credentials
from connectors.ocpi.meter_samples import read_meter_sample
from connectors.ocpi.sessions import Context, SessionState, patch_session, put_session
from connectors.ocpi.wire import Accepted, PartyRef
from gridstream.records import ChargingLimit, MeterSample, OcpiCdr

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ocpi"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CTX = Context(received_at=NOW, source="ocpi2.2.1", site_of=lambda s: s)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_the_simple_start_session_is_taken_with_no_energy_yet() -> None:
    body = load("v2.2.1/session_example_1_simple_start.json")
    state, result = put_session(None, PartyRef("NL", "STK"), "101", body, CTX)
    assert isinstance(result, Accepted)
    # PENDING, kwh 0, no periods: a started and an updated event, no readings.
    assert [(r.event_type, r.meter_wh) for r in result.records] == [  # type: ignore[union-attr]
        ("started", 0.0),
        ("updated", 0.0),
    ]
    assert state is not None


def test_the_official_charging_period_patch_is_read_in_wh() -> None:
    start = load("v2.2.1/session_example_1_simple_start.json")
    # The examples come from different sessions: this one must start before the PATCH.
    start.update(start_date_time="2019-06-23T08:00:00Z", last_updated="2019-06-23T08:00:00Z")
    state, _ = put_session(None, PartyRef("NL", "STK"), "101", start, CTX)
    patch = load("v2.2.1/session_patch_example_charging_period.json")
    state, result = patch_session(state, PartyRef("NL", "STK"), "101", patch, CTX)
    assert isinstance(result, Accepted)
    # kwh 15.00 with one ENERGY period of 2200: over 100 x 15, so Wh. A register of 0 at
    # the period's start (the session's energy before it).
    assert state is not None and state.unit == "Wh"
    sample = next(r for r in result.records if isinstance(r, MeterSample))
    assert sample.ts == datetime(2019, 6, 23, 8, 16, 2, tzinfo=UTC)
    assert [(r.measurand, r.value) for r in sample.readings] == [
        ("Energy.Active.Import.Register", 0.0),
        ("Energy.Active.Export.Register", 0.0),
    ]


def test_the_official_total_cost_patch_changes_no_reading() -> None:
    start = load("v2.2.1/session_example_1_simple_start.json")
    state, _ = put_session(None, PartyRef("NL", "STK"), "101", start, CTX)
    patch = load("v2.2.1/session_patch_example_total_cost.json")
    _, result = patch_session(state, PartyRef("NL", "STK"), "101", patch, CTX)
    assert isinstance(result, Accepted)
    assert not any(isinstance(r, MeterSample) for r in result.records)


def test_the_official_cdr_becomes_a_record() -> None:
    _, result = post_cdr(None, load("v2.2.1/cdr_example.json"), CTX)
    assert isinstance(result, Accepted)
    (cdr,) = result.records
    assert isinstance(cdr, OcpiCdr)
    # 15.342 kWh; 1.973 h; excl. VAT total cost as sent.
    assert (cdr.cdr_id, cdr.station_id, cdr.total_energy_wh, cdr.total_time_s) == (
        "12345",
        "BE*BEC*3256",
        15342.0,
        7102.8,
    )


def test_the_official_credentials_are_read() -> None:
    creds = read_credentials(load("v2.2.1/credentials_example.json"))
    assert (creds.token, creds.parties, creds.roles) == (
        "ebf3b399-779f-4497-9b9d-ac6ad3cc44d2",
        ("NL*EXA",),
        ("CPO",),
    )


def test_the_draft_meter_sample_keeps_evse_ev_and_group_apart() -> None:
    body = load("v3.0-draft/meter_sample.constructed.json")
    result = read_meter_sample(body, PartyRef("BE", "BEC"), CTX, lambda s: None)
    assert isinstance(result, Accepted)
    (sample,) = result.records
    assert isinstance(sample, MeterSample) and sample.source == "ocpi3.0"
    assert sample.station_id == "BE*BEC*3256" and sample.transaction_id == "101"
    assert sample.charging_profile_id == "cp-0001"  # the profile it says it follows
    assert [(r.measurand, r.value, r.unit, r.phase, r.location) for r in sample.readings] == [
        ("Power.Active.Import", 7400.0, "W", None, "Outlet"),
        ("Current.Import", 10.7, "A", "L1", "Outlet"),
        ("Current.Import", 10.6, "A", "L2", "Outlet"),
        ("Current.Import", 10.8, "A", "L3", "Outlet"),
        ("Frequency", 49.98, "Hz", None, "Inlet"),
        ("SoC", 63.0, "%", None, "EV"),
        ("Power.Active.Import", 22000.0, "W", None, "Group.Inlet"),
    ]


def test_the_scale_shape_of_meter_readings_is_read_too() -> None:
    body = {
        "timestamp": "2026-01-15T18:00:00Z",
        "session_id": "101",
        "readings": [
            {"value": 12.5, "measurand": "Energy.Active.Import.Register", "unit": "kWh",
             "component_level": "EVSE", "location": "OUTLET", "phase": None},
            {"value": -7.4, "measurand": "Power.Active.Import", "unit": "kW",
             "component_level": "EVSE", "location": "OUTLET", "phase": None},
            {"value": 231.0, "measurand": "Voltage", "unit": "V", "component_level": "EVSE",
             "location": "OUTLET", "phase": "L1"},
        ],
    }  # fmt: skip
    result = read_meter_sample(body, PartyRef("BE", "BEC"), CTX, lambda s: "3256")
    assert isinstance(result, Accepted)
    (sample,) = result.records
    assert isinstance(sample, MeterSample) and sample.station_id == "BE*BEC*3256"
    assert sample.charging_profile_id is None  # names no profile
    # 12.5 kWh = 12,500 Wh; -7.4 kW kept signed (an OCPP measurand passes through) = -7,400 W.
    assert [(r.measurand, r.value, r.unit) for r in sample.readings] == [
        ("Energy.Active.Import.Register", 12500.0, "Wh"),
        ("Power.Active.Import", -7400.0, "W"),
        ("Voltage", 231.0, "V"),
    ]


def test_an_active_charging_profile_built_from_the_specification_becomes_limits() -> None:
    # No ActiveChargingProfile example exists in the OCPI 2.2.1 text: this one is written
    # field by field from mod_charging_profiles.asciidoc (tests/fixtures/README.md).
    body = load("v2.2.1/active_charging_profile.constructed.json")
    session = SessionState(
        PartyRef("BE", "BEC"), "S1", {"evse_uid": "3256", "location_id": "L1",
                                      "connector_id": "1"}, NOW,
    )  # fmt: skip
    held, result = put_active_profile(None, session, body, None, CTX)
    assert isinstance(result, Accepted) and held is not None
    # A per phase x 230 V x 3 phases (no Location held): 16 A = 11,040 W from 10:00,
    # 10 A = 6,900 W from 10:00 + 1,800 s until 10:00 + duration 3,600 s
    assert [
        (r.interval_start.isoformat(), r.interval_end and r.interval_end.isoformat(), r.limit_w)
        for r in result.records
        if isinstance(r, ChargingLimit)
    ] == [
        ("2026-01-15T10:00:00+00:00", "2026-01-15T10:30:00+00:00", 11040.0),
        ("2026-01-15T10:30:00+00:00", "2026-01-15T11:00:00+00:00", 6900.0),
    ]
