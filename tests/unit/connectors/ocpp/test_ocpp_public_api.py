"""The OCPP connector's public surface is what ``connectors.ocpp.__all__`` says, no more."""

from __future__ import annotations

import connectors.ocpp


def test_public_names_are_pinned():
    assert sorted(connectors.ocpp.__all__) == sorted(
        [
            "OCPP_VERSIONS",
            "Accepted",
            "Authenticator",
            "CallContext",
            "CallFrame",
            "Clock",
            "Counters",
            "DeadLetterSink",
            "Ignored",
            "InvalidPayload",
            "MessageHandler",
            "OcppLimits",
            "OcppProxy",
            "OcppSecurity",
            "OcppServer",
            "OcppVersion",
            "ProxyCounters",
            "Publish",
            "Rejected",
            "SendAccepted",
            "SendFrame",
            "Sessions16",
            "StationState",
            "Transactions2",
            "call_error_frame",
            "call_result_frame",
            "handle_call",
            "handle_send",
            "hash_id_token",
            "parse_frame",
            "redact_id_tokens",
            "security_from_settings",
            "serve_ocpp",
            "serve_ocpp_proxy",
            "spell",
        ]
    )


def test_every_public_name_is_importable():
    for name in connectors.ocpp.__all__:
        assert getattr(connectors.ocpp, name) is not None
