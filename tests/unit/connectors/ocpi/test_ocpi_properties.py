"""Invariants of the OCPI parsers (hypothesis): they raise nothing but return rejections
(sessions, CDRs, locations, meter samples, charging profiles), and sending a session's
PATCHes again, in any order, adds no energy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.ocpi.cdrs import post_cdr
from connectors.ocpi.charging_profiles import post_result, put_active_profile
from connectors.ocpi.dimensions import readings_by_instant
from connectors.ocpi.locations import patch_location, put_location
from connectors.ocpi.meter_samples import read_meter_sample
from connectors.ocpi.sessions import Context, SessionState, patch_session, put_session
from connectors.ocpi.wire import Accepted, PartyRef, Rejected
from gridstream.records import MeterSample

FIXTURES = Path(__file__).parents[3] / "fixtures" / "ocpi"
BEC = PartyRef("BE", "BEC")
CTX = Context(
    received_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC), source="ocpi2.2.1", site_of=lambda s: s
)
SESSION = json.loads((FIXTURES / "v2.2.1" / "session_example_2_short_finished.json").read_text())
CDR = json.loads((FIXTURES / "v2.2.1" / "cdr_example.json").read_text())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` with some of its fields replaced by any JSON value, or dropped."""
    return st.dictionaries(
        st.sampled_from(sorted(base)), st.one_of(json_values, st.just(...)), max_size=4
    ).map(lambda changes: {k: v for k, v in {**base, **changes}.items() if v is not ...})


@settings(max_examples=300, deadline=None)
@given(mutated(SESSION), json_values)
def test_session_parsing_returns_a_result_for_any_body(body: dict[str, Any], other: Any) -> None:
    state, result = put_session(None, BEC, "101", body, CTX)
    assert isinstance(result, Accepted | Rejected)
    patch = {"last_updated": "2016-01-01T00:00:00Z", "charging_periods": other}
    _, patched = patch_session(state, BEC, "101", patch, CTX)
    assert isinstance(patched, Accepted | Rejected)
    period = {
        "start_date_time": "2016-01-01T00:00:00Z",
        "dimensions": [{"type": other, "volume": other}],
    }
    _, patched = patch_session(state, BEC, "101", {**patch, "charging_periods": [period]}, CTX)
    assert isinstance(patched, Accepted | Rejected)


@settings(max_examples=200, deadline=None)
@given(mutated(CDR), json_values)
def test_cdr_location_and_meter_sample_parsing_return_a_result(
    body: dict[str, Any], anything: Any
) -> None:
    assert isinstance(post_cdr(None, body, CTX)[1], Accepted | Rejected)
    raw = anything if isinstance(anything, dict) else {"evses": anything}
    _, loc = put_location(None, BEC, "LOC1", None, {**raw, "last_updated": "2026-01-01"}, CTX)
    assert isinstance(loc, Accepted | Rejected)
    _, patched = patch_location(None, BEC, "LOC1", None, raw, CTX)
    assert isinstance(patched, Accepted | Rejected)
    sample = {"timestamp": "2026-01-01T00:00:00Z", "evse_id": "E1", "readings": anything}
    assert isinstance(read_meter_sample(sample, BEC, CTX, lambda s: None), Accepted | Rejected)


def _period(k: int) -> dict[str, Any]:
    return {
        "start_date_time": f"2026-01-01T10:{15 * k:02d}:00Z",
        "dimensions": [{"type": "ENERGY", "volume": 1.0 + k}],
    }


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_patches_resent_in_any_order_never_raise_a_register(order: list[int]) -> None:
    start = {
        **SESSION,
        "charging_periods": [],
        "kwh": 0.0,
        "status": "ACTIVE",
        "start_date_time": "2026-01-01T10:00:00Z",
        "last_updated": "2026-01-01T10:00:00Z",
    }
    start.pop("end_date_time")  # fmt: skip
    state, _ = put_session(None, BEC, "101", start, CTX)
    highest: dict[datetime, float] = {}
    for k in order:
        patch = {
            "charging_periods": [_period(k)],
            "last_updated": f"2026-01-01T10:{15 * k + 1:02d}:00Z",
        }
        state, result = patch_session(state, BEC, "101", patch, CTX)
        assert isinstance(result, Accepted)
        for record in result.records:
            if isinstance(record, MeterSample):
                wh = next(
                    r.value for r in record.readings if r.measurand.endswith("Import.Register")
                )
                assert wh is not None
                highest[record.ts] = max(highest.get(record.ts, 0.0), wh)
    # Whatever the order and repeats, the register at a period's start is the energy of the
    # periods before it that arrived: never more than 1 + 2 + 3 kWh before the fourth.
    assert all(wh <= sum(1000.0 * (1 + j) for j in range(4)) for wh in highest.values())
    assert state is not None and len(state.periods) == len(set(order))
    # What was published last per instant is what the final periods give, built at once.
    assert dict(state.published) == readings_by_instant(list(state.periods.values()), None, "kWh")


ACTIVE = {
    "start_date_time": "2026-01-15T10:00:00Z",
    "charging_profile": {
        "charging_rate_unit": "A",
        "duration": 3600,
        "min_charging_rate": 6.0,
        "charging_profile_period": [{"start_period": 0, "limit": 16.0}],
    },
}


@settings(max_examples=300, deadline=None)
@given(mutated(ACTIVE), mutated(ACTIVE["charging_profile"]), json_values, json_values)
def test_charging_profile_parsing_returns_a_result_for_any_body(
    body: dict[str, Any], profile: dict[str, Any], start: Any, limit: Any
) -> None:
    session = SessionState(BEC, "S1", {"evse_uid": "E1"}, CTX.received_at)
    period = {"start_period": start, "limit": limit}
    for attempt in (body, {**ACTIVE, "charging_profile": {**profile, "charging_profile_period":
                                                          [period]}}):  # fmt: skip
        _, result = put_active_profile(None, session, attempt, None, CTX)
        assert isinstance(result, Accepted | Rejected)
        _, result = post_result(None, session, {"result": "ACCEPTED", "profile": attempt}, 3, CTX)
        assert isinstance(result, Accepted | Rejected)
