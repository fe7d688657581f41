"""OCPP 2.1: the 2.0.1 handling, reused, plus the actions only 2.1 has.

Same shape as ``v16`` and ``v201``. Nothing is copied: every difference between 2.0.1 and
2.1 in the shared actions is carried by the data and admitted by the 2.1 schema
(``transactionInfo.operationMode``, location ``Upstream``, free-string id-token types,
relaxed ``signedMeterValue``, the new V2X measurands, the V2X charging needs), and
``v201`` passes it through (``operation_mode`` is set only when the payload has it).

2.1-only CALLs are answered from ``connectors.ocpp.answers.ANSWERS_21``; of them,
OpenPeriodicEventStream and ClosePeriodicEventStream update the station's stream memory
(``connectors.ocpp.periodic_streams``). The 2.1-only frame types (5 CALLRESULTERROR, 6 SEND
such as NotifyPeriodicEventStream) are dealt with in ``connectors.ocpp.parse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connectors.ocpp import answers, v201
from connectors.ocpp.context import CallContext
from connectors.ocpp.periodic_streams import close_stream, open_stream, stream_samples
from gridstream.records import Record

ACTIONS: Final = frozenset(answers.ANSWERS_21)
"""CALLs this connector handles (2.0.1's and the 2.1 additions); any other is NotImplemented."""


def to_records(action: str, payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    """Canonical records for one schema-valid 2.1 CALL (see ``v201.to_records``).

    OpenPeriodicEventStream / ClosePeriodicEventStream give no records: the stream is
    remembered / forgotten, so that its SEND frames can be read.
    """
    if action == "OpenPeriodicEventStream":
        open_stream(payload, ctx.station.monitors)
        return []
    if action == "ClosePeriodicEventStream":
        close_stream(payload, ctx.station.monitors)
        return []
    if action in v201.ACTIONS:
        return v201.to_records(action, payload, ctx)
    if action in ACTIONS:
        return []
    raise ValueError(f"v21.to_records called for unhandled action {action!r}")


def respond(action: str, payload: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    """CALLRESULT payload for one schema-valid 2.1 CALL (``answers.ANSWERS_21``)."""
    answer = answers.ANSWERS_21.get(action)
    if answer is None:
        raise ValueError(f"v21.respond called for unhandled action {action!r}")
    return answer(payload, ctx)


def boot_identity(payload: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(vendor, model, serial number) from a 2.1 BootNotification, for the log."""
    return v201.boot_identity(payload)


SENDS: Final = frozenset({"NotifyPeriodicEventStream"})
"""Actions a 2.1 station sends as SEND frames (never answered), handled by ``send_to_records``."""


def send_to_records(action: str, payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    """Canonical records for one schema-valid 2.1 SEND (periodic event stream data).

    Raises ``InvalidPayload`` for unreadable values.
    """
    if action == "NotifyPeriodicEventStream":
        return list(stream_samples(payload, ctx))
    raise ValueError(f"v21.send_to_records called for unhandled action {action!r}")
