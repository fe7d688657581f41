"""OCPP connector: OCPP 1.6 / 2.0.1 / 2.1 stations in, canonical records (or rejections) out.

Pure core (no I/O, no clock): ``parse_frame`` and ``handle_call`` in ``parse``, the version
modules ``v16``, ``v201``, ``v21`` (each ``to_records`` / ``respond``), ``meter_values``.
Thin shell: ``serve_ocpp`` in ``server``, which is handed its publish and dead-letter
coroutines, site registry, clock and id-token key.
"""

from connectors.ocpp.context import OCPP_VERSIONS, CallContext, InvalidPayload, OcppVersion
from connectors.ocpp.id_tokens import hash_id_token, redact_id_tokens
from connectors.ocpp.parse import (
    Accepted,
    CallFrame,
    Ignored,
    Rejected,
    call_error_frame,
    call_result_frame,
    handle_call,
    parse_frame,
    spell,
)
from connectors.ocpp.server import (
    Clock,
    Counters,
    DeadLetterSink,
    OcppServer,
    Publish,
    serve_ocpp,
)
from connectors.ocpp.sessions import Sessions16, StationState, Transactions2

__all__ = [
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
