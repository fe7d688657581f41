"""OCPP 2.1: the 2.0.1 handling, reused.

Same shape as ``v16`` and ``v201``. Nothing is copied: every difference between 2.0.1 and
2.1 that the connector touches is carried by the data and admitted by the 2.1 schema
(``transactionInfo.operationMode``, location ``Upstream``, free-string id-token types,
relaxed ``signedMeterValue``, the new V2X measurands), and ``v201`` passes it through
(``operation_mode`` is set only when the payload has it). The 2.1-only frame types (5
CALLRESULTERROR, 6 SEND) are dealt with in ``connectors.ocpp.parse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connectors.ocpp import v201
from connectors.ocpp.context import CallContext
from gridstream.records import Record

ACTIONS: Final = v201.ACTIONS
"""CALLs this connector handles (the 2.0.1 set); any other is answered NotImplemented."""


def to_records(action: str, payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    """Canonical records for one schema-valid 2.1 CALL (see ``v201.to_records``)."""
    return v201.to_records(action, payload, ctx)


def respond(action: str, payload: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    """CALLRESULT payload for one schema-valid 2.1 CALL (see ``v201.respond``)."""
    return v201.respond(action, payload, ctx)


def boot_identity(payload: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(vendor, model, serial number) from a 2.1 BootNotification, for the log."""
    return v201.boot_identity(payload)
