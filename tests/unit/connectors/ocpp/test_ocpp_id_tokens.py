"""Id tokens never leave the connector in clear: records, dead-letter copies, details."""

from __future__ import annotations

import json
import re

import pytest

from connectors.ocpp import StationState, hash_id_token, redact_id_tokens
from gridstream.records import TransactionEvent


def test_hash_is_32_hex_characters_and_depends_on_the_key():
    digest = hash_id_token("04A1B2C3", b"key-1")
    assert re.fullmatch(r"[0-9a-f]{32}", digest)
    assert digest != hash_id_token("04A1B2C3", b"key-2")


def test_hash_ignores_case_because_id_tokens_are_case_insensitive():
    assert hash_id_token("04a1b2c3", b"k") == hash_id_token("04A1B2C3", b"k")


def test_hash_refuses_an_empty_key():
    with pytest.raises(ValueError, match="must not be empty"):
        hash_id_token("04A1B2C3", b"")


def test_id_tokens_never_appear_in_records_in_clear(run_call):
    station = StationState()
    results = [
        run_call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "SecretTag1",
                "meterStart": 0,
                "timestamp": "2026-01-15T17:00:00Z",
            },
            station=station,
        ),
        run_call(
            "StopTransaction",
            {
                "transactionId": 1,
                "idTag": "SecretTag1",
                "meterStop": 9,
                "timestamp": "2026-01-15T18:00:00Z",
            },
            station=station,
        ),
        run_call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": "2026-01-15T17:00:00Z",
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "t"},
                "idToken": {"idToken": "SecretRfid2", "type": "ISO14443"},
            },
            source="ocpp2.0.1",
        ),
    ]
    records = [record for result in results for record in result.records]
    # start: event + sample, stop: event + sample, 2.0.1: event only (no meterValue).
    assert len(records) == 5
    assert all(r.id_token_hash for r in records if isinstance(r, TransactionEvent))
    for record in records:
        text = record.to_json().decode().casefold()
        assert "secrettag1" not in text and "secretrfid2" not in text


def test_redaction_replaces_every_id_token_member_and_keeps_the_rest():
    frame = [
        2,
        "m-1",
        "TransactionEvent",
        {
            "idToken": {
                "idToken": "Café",
                "type": "ISO14443",
                "additionalInfo": [{"additionalIdToken": "Extra", "type": "x"}],
            },
            "idTag": "Tag",
            "parentIdTag": "Parent",
            "meterStart": 5,
        },
    ]
    raw = json.dumps(frame)  # ASCII-escaped: "Caf\u00e9"
    redacted = json.loads(redact_id_tokens(raw, b"k"))[3]
    # The JSON escape is decoded before hashing: the same hash as the records carry.
    assert redacted["idToken"] == {
        "idToken": f"hmac:{hash_id_token('Café', b'k')}",
        "type": "ISO14443",
        "additionalInfo": [
            {"additionalIdToken": f"hmac:{hash_id_token('Extra', b'k')}", "type": "x"}
        ],
    }
    assert (redacted["idTag"], redacted["parentIdTag"], redacted["meterStart"]) == (
        f"hmac:{hash_id_token('Tag', b'k')}",
        f"hmac:{hash_id_token('Parent', b'k')}",
        5,
    )


def test_redaction_works_on_broken_json_too():
    raw = '[2, "m-1", "StartTransaction", {"idTag": "Secret", "meterStart": '
    assert "Secret" not in redact_id_tokens(raw, b"k")
