"""OCPP-J frames in, values out: ``parse_frame`` then ``handle_call``.

Parsing returns values (STYLE.md rule 17): a ``CallFrame`` (or 2.1 ``SendFrame``) to
handle, ``Accepted(records, response)``, ``SendAccepted(records)``, ``Rejected(reason_code,
detail, raw, ocpp_error_code, message_id)`` or ``Ignored``. Exceptions leaving this module
are bugs. No I/O apart from the ``ocpp`` package reading a JSON schema file the first time
an action is validated.

What is answered how (PROTOCOLS.md §1):

- Not JSON, not an array, no string message id: nothing can be answered; ``Rejected`` with
  ``ocpp_error_code`` None (dead letter only).
- A CALL of the wrong shape (element count, action not a string, payload not an object)
  whose message id can be read: CALLERROR ``malformed_frame`` (1.6 FormationViolation,
  2.x RpcFrameworkError).
- Unknown MessageTypeId: 2.1 says ignore it (``Ignored``); 1.6 and 2.0.1 get a CALLERROR
  ``malformed_frame`` when the id can be read.
- CALLRESULT / CALLERROR (and 2.1 CALLRESULTERROR) from the station: ``Ignored``, because
  this CSMS sends no CALLs yet.
- 2.1 SEND ``[6, id, action, payload]``: a ``SendFrame``; ``handle_send`` turns it into
  ``SendAccepted(records)``, which the shell publishes and never answers. A SEND of an
  action the version does not send this way, of the wrong shape, failing its schema or
  with unreadable values is ``Rejected`` without a code: dead letter only, no answer.
- A CALL for an action the version module does not handle (one the CSMS sends, or one the
  version does not have): CALLERROR NotImplemented. Every station -> CSMS action of each
  version is handled (``connectors.ocpp.answers``).
- Schema failures: the ``ocpp`` package's own validation and error class
  (TypeConstraintViolation, ProtocolError, FormatViolation, ...), reason
  ``schema_violation``.
- Values the schema cannot check: ``bad_value`` / ``unknown_unit`` from the version module.

Every code goes out in the connection's own spelling (``spell``): 1.6 FormationViolation and
OccurenceConstraintViolation, 2.x FormatViolation and OccurrenceConstraintViolation.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from jsonschema.exceptions import ValidationError
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator, unpack
from ocpp.messages import _validate_payload as validate_ocpp_payload

from connectors.ocpp import v16, v21, v201
from connectors.ocpp.context import CallContext, InvalidPayload, OcppVersion
from connectors.ocpp.schemas import is_valid
from gridstream.errors import reason
from gridstream.records import DeadLetter, Record

#: OCPP-J: errorDescription is at most 255 characters.
MAX_DESCRIPTION: Final = 255
#: OCPP-J 2.1 MessageTypeId of a SEND (2.1 Part 4 §4.2.4); the package knows only 2, 3, 4.
SEND_MESSAGE_TYPE: Final = 6

_PACKAGE_VERSION: Final[dict[OcppVersion, str]] = {
    "ocpp1.6": "1.6",
    "ocpp2.0.1": "2.0.1",
    "ocpp2.1": "2.1",
}

# OCPP-J 1.6 Table 7 and 2.0.1 / 2.1 Part 4 tables (PROTOCOLS.md §1).
_CODES_16: Final = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
_TO_16: Final = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "RpcFrameworkError": "FormationViolation",
}
_TO_2: Final = {
    "FormationViolation": "FormatViolation",
    "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
}


class VersionModule(Protocol):
    """What ``v16``, ``v201`` and ``v21`` each provide."""

    ACTIONS: frozenset[str]

    def to_records(self, action: str, payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
        """Records for a schema-valid CALL."""
        ...

    def respond(self, action: str, payload: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
        """CALLRESULT payload for a schema-valid CALL."""
        ...

    def boot_identity(
        self, payload: Mapping[str, Any]
    ) -> tuple[str | None, str | None, str | None]:
        """(vendor, model, serial) of a BootNotification."""
        ...


_MODULES: Final[dict[OcppVersion, VersionModule]] = {
    "ocpp1.6": v16,
    "ocpp2.0.1": v201,
    "ocpp2.1": v21,
}


@dataclass(frozen=True)
class CallFrame:
    """A well-formed CALL: ``[2, message_id, action, payload]``, with its raw text."""

    message_id: str
    action: str
    payload: dict[str, Any]
    raw: str


@dataclass(frozen=True)
class SendFrame:
    """A well-formed 2.1 SEND: ``[6, message_id, action, payload]``, with its raw text."""

    message_id: str
    action: str
    payload: dict[str, Any]
    raw: str


@dataclass(frozen=True)
class SendAccepted:
    """A SEND turned into records: publish them, answer nothing (2.1 Part 4 §4.2.4)."""

    records: tuple[Record, ...]


@dataclass(frozen=True)
class Accepted:
    """A CALL turned into records; ``response`` is the CALLRESULT payload to send."""

    records: tuple[Record, ...]
    response: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    """Input that cannot be accepted.

    ``reason_code`` is a ``gridstream.errors.REASONS`` code; ``detail`` says where and what
    (never an id token); ``raw`` is the frame as received. ``ocpp_error_code`` is the
    CALLERROR code in the connection's spelling, or None when nothing is to be answered
    (no message id, or not a CALL).
    """

    reason_code: str
    detail: str
    raw: str
    ocpp_error_code: str | None
    message_id: str | None = None

    def error_frame(self) -> str | None:
        """The CALLERROR frame to send, or None when the station gets no answer."""
        if self.ocpp_error_code is None or self.message_id is None:
            return None
        return call_error_frame(self.message_id, self.ocpp_error_code, self.detail)


@dataclass(frozen=True)
class Ignored:
    """A frame that is neither answered nor kept (responses to CALLs we never sent)."""

    detail: str
    raw: str


def spell(code: str, version: OcppVersion) -> str:
    """A CALLERROR code in ``version``'s own spelling.

    >>> spell("FormatViolation", "ocpp1.6"), spell("FormationViolation", "ocpp2.0.1")
    ('FormationViolation', 'FormatViolation')
    """
    if version == "ocpp1.6":
        code = _TO_16.get(code, code)
        return code if code in _CODES_16 else "GenericError"
    return _TO_2.get(code, code)


def error_code(reason_code: str, version: OcppVersion) -> str:
    """CALLERROR code of a ``REASONS`` entry for ``version``."""
    entry = reason(reason_code)
    return spell(entry.ocpp16 if version == "ocpp1.6" else entry.ocpp2, version)


def call_result_frame(message_id: str, payload: Mapping[str, Any]) -> str:
    """``[3, message_id, payload]`` as compact JSON text."""
    return json.dumps([MessageType.CallResult, message_id, payload], separators=(",", ":"))


def call_error_frame(message_id: str, code: str, description: str) -> str:
    """``[4, message_id, code, description, {}]``, description cut to 255 characters."""
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 3] + "..."
    frame = [MessageType.CallError, message_id, code, description, {}]
    return json.dumps(frame, separators=(",", ":"))


def boot_identity(
    version: OcppVersion, payload: Mapping[str, Any]
) -> tuple[str | None, str | None, str | None]:
    """(vendor, model, serial number) of a BootNotification payload in ``version``."""
    return _MODULES[version].boot_identity(payload)


def parse_frame(raw: str, version: OcppVersion) -> CallFrame | SendFrame | Rejected | Ignored:
    """Read one websocket text message of a connection speaking ``version``."""
    try:
        message = unpack(raw)
    except OCPPError:
        return _unpackable(raw, version)
    except RecursionError:  # json.loads on a deeply nested array: a hostile frame
        return _malformed(raw, version, None, "JSON nested too deeply")
    if isinstance(message, CallResult | CallError):
        return Ignored(f"unsolicited message type {message.message_type_id}", raw)
    message_id = message.unique_id if isinstance(message.unique_id, str) else None
    if message_id is None:
        return _malformed(raw, version, None, "message id is not a string")
    if not isinstance(message.action, str):
        return _malformed(raw, version, message_id, "action is not a string")
    if not isinstance(message.payload, dict):
        return _malformed(raw, version, message_id, "payload is not a JSON object")
    return CallFrame(message_id, message.action, message.payload, raw)


def handle_call(frame: CallFrame, ctx: CallContext) -> Accepted | Rejected:
    """Validate one CALL against its schema and turn it into records and an answer.

    ``ctx.source`` selects the version module. Order: action known, schema valid, values
    readable; the first failure is the rejection.
    """
    version = ctx.source
    module = _MODULES[version]
    if frame.action not in module.ACTIONS:
        detail = f"{frame.action} is not implemented by this CSMS"
        return _rejected(frame, version, "unknown_action", detail)
    schema_failure = _validate(frame, version)
    if schema_failure is not None:
        return schema_failure
    try:
        records = module.to_records(frame.action, frame.payload, ctx)
        response = module.respond(frame.action, frame.payload, ctx)
    except InvalidPayload as exc:
        return _rejected(frame, version, exc.reason, exc.detail)
    if ctx.dropped and not records:  # nothing of it usable: the station hears why
        reason_code, detail, _ = ctx.dropped[0]
        return _rejected(frame, version, reason_code, detail)
    return Accepted((*records, *_dropped_letters(frame, ctx)), response)


def _dropped_letters(frame: CallFrame, ctx: CallContext) -> list[DeadLetter]:
    """A dead letter for each sampled value the CALL's records left out (DOMAIN.md)."""
    return [
        DeadLetter(
            source=ctx.source,
            reason=reason,
            detail=f"{frame.action}: {detail}; the frame's other readings were stored",
            raw=json.dumps(
                {"action": frame.action, "sampledValue": sampled}, separators=(",", ":")
            ),
            received_at=ctx.now,
            station_id=ctx.station_id,
            message_id=frame.message_id,
        )
        for reason, detail, sampled in ctx.dropped
    ]


def handle_send(frame: SendFrame, ctx: CallContext) -> SendAccepted | Rejected:
    """Validate one 2.1 SEND against its schema and turn it into records; never answered.

    Every rejection has ``ocpp_error_code`` None: a SEND gets no CALLERROR, whatever is
    wrong with it, so it only goes to the dead-letter topic.
    """
    if ctx.source != "ocpp2.1" or frame.action not in v21.SENDS:
        return _unanswered(frame, "unknown_action", f"SEND {frame.action!r} is not handled")
    # The package's own schema of the SEND (no Request/Response suffix); its validator is
    # the one used for CALLs that the fast check refuses.
    validator = get_validator(SEND_MESSAGE_TYPE, frame.action, _PACKAGE_VERSION[ctx.source])
    error = next(iter(validator.iter_errors(frame.payload)), None)
    if error is not None:
        return _unanswered(frame, "schema_violation", _error_detail(frame.action, error))
    try:
        records = v21.send_to_records(frame.action, frame.payload, ctx)
    except InvalidPayload as exc:
        return _unanswered(frame, exc.reason, exc.detail)
    return SendAccepted(tuple(records))


def _unanswered(frame: SendFrame, code: str, detail: str) -> Rejected:
    return Rejected(code, detail, frame.raw, None, frame.message_id)


def _rejected(frame: CallFrame, version: OcppVersion, code: str, detail: str) -> Rejected:
    return Rejected(code, detail, frame.raw, error_code(code, version), frame.message_id)


def _malformed(raw: str, version: OcppVersion, message_id: str | None, detail: str) -> Rejected:
    code = error_code("malformed_frame", version) if message_id is not None else None
    return Rejected("malformed_frame", detail, raw, code, message_id)


def _unpackable(raw: str, version: OcppVersion) -> SendFrame | Rejected | Ignored:
    # unpack() said no; look again to find what can still be answered.
    try:
        frame = json.loads(raw)
    except ValueError as exc:
        return _malformed(raw, version, None, f"not valid JSON: {exc}")
    if not isinstance(frame, list) or not frame:
        return _malformed(raw, version, None, "not a non-empty JSON array")
    message_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) else None
    type_id = frame[0]
    if type_id == MessageType.Call:
        return _malformed(raw, version, message_id, f"a CALL has 4 elements, not {len(frame)}")
    if type_id in (MessageType.CallResult, MessageType.CallError):
        return Ignored(f"unsolicited message type {type_id} of the wrong shape", raw)
    if version == "ocpp2.1":
        if type_id == SEND_MESSAGE_TYPE:
            return _send_frame(frame, raw, message_id)
        # 2.1 Part 4: an unknown MessageTypeId SHALL be ignored (5 = CALLRESULTERROR too).
        return Ignored(f"message type {type_id!r} ignored", raw)
    return _malformed(raw, version, message_id, f"unknown message type {type_id!r}")


def _send_frame(frame: list[Any], raw: str, message_id: str | None) -> SendFrame | Rejected:
    # SEND [6, id, action, payload] is never answered (2.1 Part 4 §4.2.4), however broken.
    if message_id is None:
        return Rejected("malformed_frame", "message id is not a string", raw, None)
    if len(frame) != 4:
        detail = f"a SEND has 4 elements, not {len(frame)}"
        return Rejected("malformed_frame", detail, raw, None, message_id)
    action, payload = frame[2], frame[3]
    if not isinstance(action, str):
        return Rejected("malformed_frame", "action is not a string", raw, None, message_id)
    if not isinstance(payload, dict):
        return Rejected("malformed_frame", "payload is not a JSON object", raw, None, message_id)
    return SendFrame(message_id, action, payload, raw)


def _validate(frame: CallFrame, version: OcppVersion) -> Rejected | None:
    package_version = _PACKAGE_VERSION[version]
    if is_valid(frame.action, package_version, frame.payload):
        return None
    try:
        validate_ocpp_payload(Call(frame.message_id, frame.action, frame.payload), package_version)
    except OCPPError as exc:
        detail = _schema_detail(frame, package_version)
        return Rejected(
            "schema_violation", detail, frame.raw, spell(exc.code, version), frame.message_id
        )
    return None


def _schema_detail(frame: CallFrame, package_version: str) -> str:
    # Built from the first schema error (the one the package raised) without its message,
    # which quotes the offending value: for idTag that would be the token in clear.
    validator = get_validator(MessageType.Call, frame.action, package_version)
    return _error_detail(frame.action, next(iter(validator.iter_errors(frame.payload)), None))


def _error_detail(action: str, error: ValidationError | None) -> str:
    if error is None:
        return f"{action} payload does not validate against the schema"
    where = _path(error.absolute_path) or "payload"
    if error.validator in ("required", "additionalProperties"):
        what = error.message  # names members only, never values
    elif error.validator == "type":
        what = f"must be of type {error.validator_value}"
    elif error.validator == "enum":
        what = f"must be one of {', '.join(map(str, error.validator_value))}"
    else:
        what = f"violates {error.validator} {error.validator_value!r}"
    return f"{where}: {what}"


def _path(parts: deque[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out
