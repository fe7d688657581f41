"""The OCPP connector's public surface is what ``connectors.ocpp.__all__`` says, no more."""

from __future__ import annotations

import connectors.ocpp


def test_public_names_are_pinned():
    assert sorted(connectors.ocpp.__all__) == sorted(
        [
            "OCPP_VERSIONS",
            "Accepted",
            "CallContext",
            "CallFrame",
            "Clock",
            "Counters",
            "DeadLetterSink",
            "Ignored",
            "InvalidPayload",
            "OcppServer",
            "OcppVersion",
            "Publish",
            "Rejected",
            "Sessions16",
            "StationState",
            "Transactions2",
            "call_error_frame",
            "call_result_frame",
            "handle_call",
            "hash_id_token",
            "parse_frame",
            "redact_id_tokens",
            "serve_ocpp",
            "spell",
        ]
    )


def test_every_public_name_is_importable():
    for name in connectors.ocpp.__all__:
        assert getattr(connectors.ocpp, name) is not None
