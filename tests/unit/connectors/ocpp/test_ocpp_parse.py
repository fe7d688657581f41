"""Frames and CALLs -> values: malformed frames, rejections, error codes per version."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ocpp import (
    Accepted,
    CallFrame,
    Ignored,
    Rejected,
    SendFrame,
    call_error_frame,
    parse_frame,
    spell,
)


@pytest.mark.parametrize(
    ("raw", "version", "message_id", "code"),
    [
        # Nothing to answer without a string message id: dead letter only.
        ("not json", "ocpp1.6", None, None),
        ('{"a": 1}', "ocpp2.0.1", None, None),
        ("[]", "ocpp2.1", None, None),
        ('[2, 17, "Heartbeat", {}]', "ocpp1.6", None, None),
        # A CALL of the wrong shape with a readable id: answered in the version's spelling.
        ('[2, "m-1", "Heartbeat"]', "ocpp1.6", "m-1", "FormationViolation"),
        ('[2, "m-1", "Heartbeat"]', "ocpp2.0.1", "m-1", "RpcFrameworkError"),
        ('[2, "m-1", "Heartbeat", {}, {}]', "ocpp2.1", "m-1", "RpcFrameworkError"),
        ('[2, "m-1", "Heartbeat", null]', "ocpp1.6", "m-1", "FormationViolation"),  # never null
        ('[2, "m-1", 5, {}]', "ocpp2.0.1", "m-1", "RpcFrameworkError"),
        # Unknown message type: 1.6 and 2.0.1 answer; 2.1 ignores (below).
        ('[7, "m-1", {}]', "ocpp1.6", "m-1", "FormationViolation"),
        ('[6, "m-1", "NotifyPeriodicEventStream", {}]', "ocpp2.0.1", "m-1", "RpcFrameworkError"),
    ],
)
def test_malformed_frames_are_rejected_and_answered_only_with_a_message_id(
    raw, version, message_id, code
):
    parsed = parse_frame(raw, version)
    assert isinstance(parsed, Rejected)
    assert (parsed.reason_code, parsed.message_id, parsed.ocpp_error_code, parsed.raw) == (
        "malformed_frame",
        message_id,
        code,
        raw,
    )


@pytest.mark.parametrize(
    ("raw", "version"),
    [
        ('[3, "m-1", {}]', "ocpp1.6"),  # this CSMS sends no CALLs: nothing to match
        ('[4, "m-1", "GenericError", "", {}]', "ocpp2.0.1"),
        ('[3, "m-1"]', "ocpp2.0.1"),
        ('[5, "m-1", "GenericError", "", {}]', "ocpp2.1"),  # CALLRESULTERROR
        ('[7, "m-1", {}]', "ocpp2.1"),  # 2.1: unknown MessageTypeId SHALL be ignored
    ],
)
def test_responses_and_unknown_2_1_types_are_ignored(raw, version):
    assert isinstance(parse_frame(raw, version), Ignored)


def test_2_1_send_frame_is_a_send_frame_to_handle():
    raw = '[6, "s-1", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": "x"}]'
    parsed = parse_frame(raw, "ocpp2.1")
    assert parsed == SendFrame(
        "s-1", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": "x"}, raw
    )


@pytest.mark.parametrize(
    ("raw", "message_id", "detail"),
    [
        ('[6, 5, "NotifyPeriodicEventStream", {}]', None, "message id is not a string"),
        ('[6, "s-1", "NotifyPeriodicEventStream"]', "s-1", "a SEND has 4 elements, not 3"),
        ('[6, "s-1", 7, {}]', "s-1", "action is not a string"),
        ('[6, "s-1", "NotifyPeriodicEventStream", []]', "s-1", "payload is not a JSON object"),
    ],
)
def test_2_1_send_of_the_wrong_shape_is_a_dead_letter_never_answered(raw, message_id, detail):
    # OCPP 2.1 Part 4 §4.2.4: a SEND gets no answer, not even a CALLERROR.
    parsed = parse_frame(raw, "ocpp2.1")
    assert parsed == Rejected("malformed_frame", detail, raw, None, message_id)
    assert parsed.error_frame() is None


def test_deeply_nested_json_is_malformed_not_a_crash():
    raw = "[" * 100_000 + "]" * 100_000
    parsed = parse_frame(raw, "ocpp1.6")
    assert (parsed.reason_code, parsed.ocpp_error_code) == ("malformed_frame", None)


def test_well_formed_call_is_a_call_frame():
    raw = '[2,"19223201","Heartbeat",{}]'
    assert parse_frame(raw, "ocpp1.6") == CallFrame("19223201", "Heartbeat", {}, raw)


def test_16_empty_value_is_rejected_as_bad_value_with_property_constraint_violation(run_call):
    payload = {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2026-01-15T17:00:00Z", "sampledValue": [{"value": ""}]}],
    }
    rejected = run_call("MeterValues", payload, message_id="mv-9")
    assert isinstance(rejected, Rejected)
    assert rejected.reason_code == "bad_value"
    assert rejected.error_frame() == (
        '[4,"mv-9","PropertyConstraintViolation",'
        "\"meterValue[0].sampledValue[0].value: '' is not a decimal number\",{}]"
    )


def test_2x_unknown_unit_is_rejected_with_property_constraint_violation(run_call):
    sampled = {"value": 1, "unitOfMeasure": {"unit": "furlong"}}
    payload = {
        "evseId": 1,
        "meterValue": [{"timestamp": "2026-01-15T17:00:00Z", "sampledValue": [sampled]}],
    }
    rejected = run_call("MeterValues", payload, source="ocpp2.0.1")
    assert (rejected.reason_code, rejected.ocpp_error_code) == (
        "unknown_unit",
        "PropertyConstraintViolation",
    )


@pytest.mark.parametrize(
    ("version", "code"),
    [
        ("ocpp1.6", "FormationViolation"),
        ("ocpp2.0.1", "FormatViolation"),
        ("ocpp2.1", "FormatViolation"),
    ],
)
def test_schema_violation_is_answered_in_the_versions_own_spelling(run_call, version, code):
    rejected = run_call("Heartbeat", {"surprise": 1}, source=version)
    assert rejected == Rejected(
        "schema_violation",
        "payload: Additional properties are not allowed ('surprise' was unexpected)",
        json.dumps([2, "m-1", "Heartbeat", {"surprise": 1}]),
        code,
        "m-1",
    )


@pytest.mark.parametrize(
    ("payload", "code", "detail"),
    [
        (
            {"connectorId": 1, "idTag": "T", "timestamp": "2026-01-15T17:00:00Z"},
            "ProtocolError",
            "payload: 'meterStart' is a required property",
        ),
        (
            {
                "connectorId": "1",
                "idTag": "T",
                "meterStart": 0,
                "timestamp": "2026-01-15T17:00:00Z",
            },
            "TypeConstraintViolation",
            "connectorId: must be of type integer",
        ),
    ],
)
def test_schema_failures_keep_the_packages_error_class(run_call, payload, code, detail):
    rejected = run_call("StartTransaction", payload)
    assert (rejected.reason_code, rejected.ocpp_error_code, rejected.detail) == (
        "schema_violation",
        code,
        detail,
    )


def test_schema_detail_never_quotes_the_id_tag(run_call):
    secret = "SECRET-CARD-123456789"  # 21 characters: one over the 1.6 limit
    payload = {
        "connectorId": 1,
        "idTag": secret,
        "meterStart": 0,
        "timestamp": "2026-01-15T17:00:00Z",
    }
    rejected = run_call("StartTransaction", payload)
    assert rejected.ocpp_error_code == "TypeConstraintViolation"
    assert rejected.detail == "idTag: violates maxLength 20"
    assert secret not in rejected.error_frame()


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
# Reset and UnlockConnector are CSMS -> station in every version; a station never sends them.
@pytest.mark.parametrize("action", ["Reset", "UnlockConnector", "NoSuchAction"])
def test_unhandled_actions_are_answered_not_implemented_in_every_version(run_call, version, action):
    rejected = run_call(action, {}, source=version)
    assert rejected == Rejected(
        "unknown_action",
        f"{action} is not implemented by this CSMS",
        json.dumps([2, "m-1", action, {}]),
        "NotImplemented",
        "m-1",
    )


@pytest.mark.parametrize(
    ("code", "version", "spelled"),
    [
        ("FormatViolation", "ocpp1.6", "FormationViolation"),  # 1.6 errata §5.2: kept typo
        ("OccurrenceConstraintViolation", "ocpp1.6", "OccurenceConstraintViolation"),  # §5.1
        ("FormationViolation", "ocpp2.0.1", "FormatViolation"),
        ("OccurenceConstraintViolation", "ocpp2.1", "OccurrenceConstraintViolation"),
        ("RpcFrameworkError", "ocpp1.6", "FormationViolation"),  # 2.x-only code, nearest 1.6
        ("MessageTypeNotSupported", "ocpp1.6", "GenericError"),  # no 1.6 counterpart
        ("PropertyConstraintViolation", "ocpp2.1", "PropertyConstraintViolation"),
    ],
)
def test_error_codes_are_spelled_per_version(code, version, spelled):
    assert spell(code, version) == spelled


def test_error_description_is_cut_to_255_characters():
    frame = json.loads(call_error_frame("m-1", "GenericError", "x" * 300))
    assert len(frame[3]) == 255 and frame[3].endswith("...") and frame[4] == {}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_sampled_v16 = st.fixed_dictionaries(
    {"value": st.text(max_size=8) | st.sampled_from(["5", "1.5", "-0", "1e400"])},
    optional={
        "unit": st.sampled_from(["Wh", "kWh", "W", "Hertz", "Celcius", "Percent", "bogus"]),
        "measurand": st.sampled_from(["Frequency", "SoC", "Voltage", "RPM", "Power.Factor"]),
        "format": st.sampled_from(["Raw", "SignedData"]),
    },
)
_meter_values_v16 = st.fixed_dictionaries(
    {
        "connectorId": st.integers(-1, 3),
        "meterValue": st.lists(
            st.fixed_dictionaries(
                {
                    "timestamp": st.text(max_size=30) | st.just("2026-01-15T17:00:00+01:00"),
                    "sampledValue": st.lists(_sampled_v16, max_size=3),
                }
            ),
            max_size=2,
        ),
    },
    optional={"transactionId": st.integers(-1, 3)},
)


# run_call is a stateless factory (a fresh StationState per call), so sharing it between
# generated examples is safe.
_STATELESS_FIXTURE = [HealthCheck.function_scoped_fixture]


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,  # a loaded machine is no failure
    suppress_health_check=_STATELESS_FIXTURE,
)
@given(
    action=st.sampled_from(["MeterValues", "StartTransaction", "TransactionEvent", "Heartbeat"]),
    payload=st.dictionaries(st.text(max_size=12), _json, max_size=4),
    version=st.sampled_from(["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]),
)
def test_arbitrary_payloads_give_values_never_exceptions(run_call, action, payload, version):
    result = run_call(action, payload, source=version)
    assert isinstance(result, Accepted | Rejected)


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,  # a loaded machine is no failure
    suppress_health_check=_STATELESS_FIXTURE,
)
@given(payload=_meter_values_v16)
def test_near_valid_16_meter_values_give_values_never_exceptions(run_call, payload):
    result = run_call("MeterValues", payload)
    assert isinstance(result, Accepted | Rejected)
    if isinstance(result, Rejected):
        assert result.error_frame() is not None


@settings(max_examples=200, derandomize=True, deadline=None)
@given(raw=st.text(max_size=40) | _json.map(json.dumps))
def test_arbitrary_text_frames_give_values_never_exceptions(raw):
    assert isinstance(parse_frame(raw, "ocpp2.0.1"), CallFrame | Rejected | Ignored)
