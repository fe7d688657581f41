"""OCPP connector: OCPP 1.6 / 2.0.1 / 2.1 stations in, canonical records (or rejections) out.

Pure core (no I/O, no clock): ``parse_frame``, ``handle_call`` and (2.1 SEND frames)
``handle_send`` in ``parse``, the version modules ``v16``, ``v201``, ``v21`` (each
``to_records`` / ``respond``; the answers in ``answers``), ``meter_values``.
Thin shell: ``serve_ocpp`` in ``server``, which is handed its publish and dead-letter
coroutines, site registry, clock and id-token key, and optionally an ``Authenticator``
(HTTP Basic, security profiles 1 and 2), a TLS context and ``OcppLimits``, all of which
``security_from_settings`` builds. Proxy mode: ``serve_ocpp_proxy`` in
``proxy`` forwards every frame between stations and an existing CSMS and taps the meter
data (``tap`` and ``relay``, pure).
"""

from connectors.ocpp.auth import Authenticator
from connectors.ocpp.context import OCPP_VERSIONS, CallContext, InvalidPayload, OcppVersion
from connectors.ocpp.handler import Clock, Counters, DeadLetterSink, MessageHandler, Publish
from connectors.ocpp.id_tokens import hash_id_token, redact_id_tokens
from connectors.ocpp.limits import OcppLimits
from connectors.ocpp.parse import (
    Accepted,
    CallFrame,
    Ignored,
    Rejected,
    SendAccepted,
    SendFrame,
    call_error_frame,
    call_result_frame,
    handle_call,
    handle_send,
    parse_frame,
    spell,
)
from connectors.ocpp.proxy import OcppProxy, ProxyCounters, serve_ocpp_proxy
from connectors.ocpp.security import OcppSecurity, security_from_settings
from connectors.ocpp.server import OcppServer, serve_ocpp
from connectors.ocpp.sessions import Sessions16, StationState, Transactions2

__all__ = [
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
