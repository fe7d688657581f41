"""OCPP 1.6: accepted CALLs -> canonical records, and the CALLRESULT payload for each.

Same shape as ``v201`` and ``v21``: ``ACTIONS``, ``to_records``, ``respond``,
``boot_identity``. Payloads reaching these functions have passed the 1.6 JSON schema
(``connectors.ocpp.parse.handle_call`` validates first), so required fields are present
and typed; values the schema cannot check (numbers in strings, timestamps) raise
``InvalidPayload``.

Transactions (PROTOCOLS.md §2): the CSMS assigns the integer ``transactionId`` in the
StartTransaction answer (``Sessions16.start``); StopTransaction names only that id, so the
connector comes from the station's ``Sessions16``. In 1.6 EVSE and connector are one:
``evse_id`` = ``connector_id`` = ``connectorId``, 0 being the main meter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from connectors.ocpp.context import CallContext
from connectors.ocpp.id_tokens import hash_id_token
from connectors.ocpp.meter_values import register_reading, timed_readings, to_samples
from connectors.ocpp.timestamps import format_timestamp, parse_timestamp
from gridstream.records import Record, TransactionEvent, TransactionEventType

ACTIONS: Final = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "StartTransaction",
        "StopTransaction",
    }
)
"""CALLs this connector handles; any other is answered NotImplemented by ``parse``."""

#: Seconds between heartbeats asked for in the BootNotification answer.
HEARTBEAT_INTERVAL_S: Final = 300

_ACCEPTED: Final = {"status": "Accepted"}


def to_records(action: str, payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    """Canonical records for one schema-valid 1.6 CALL (empty for Boot/Heartbeat/Status).

    MeterValues: one ``MeterSample`` per timestamp; ``transactionId`` 0 or absent means no
    transaction. StartTransaction: a ``TransactionEvent`` "started" (``meter_wh`` =
    meterStart) and a sample with the import register at meterStart, context
    Transaction.Begin. StopTransaction: "ended" (``stopped_reason`` = reason, "Local" when
    absent as the spec says), a sample at meterStop (Transaction.End) and the
    ``transactionData`` samples. Raises ``InvalidPayload`` for unreadable values.
    """
    if action == "MeterValues":
        connector = payload["connectorId"]
        tx = payload.get("transactionId")
        return list(
            to_samples(
                timed_readings(payload["meterValue"], ctx.source),
                ctx,
                evse_id=connector,
                connector_id=connector,
                transaction_id=str(tx) if tx else None,  # 0 = none (SAP issue #1817)
            )
        )
    if action == "StartTransaction":
        return _start(payload, ctx)
    if action == "StopTransaction":
        return _stop(payload, ctx)
    if action in ACTIONS:
        return []
    raise ValueError(f"v16.to_records called for unhandled action {action!r}")


def respond(action: str, payload: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    """CALLRESULT payload for one schema-valid 1.6 CALL (valid against the 1.6 schemas)."""
    if action == "BootNotification":
        return {
            "status": "Accepted",
            "currentTime": format_timestamp(ctx.now),
            "interval": HEARTBEAT_INTERVAL_S,
        }
    if action == "Heartbeat":
        return {"currentTime": format_timestamp(ctx.now)}
    if action == "StartTransaction":
        tx = ctx.station.sessions16.start(ctx.message_id, payload["connectorId"])
        return {"transactionId": tx, "idTagInfo": dict(_ACCEPTED)}
    if action == "StopTransaction":
        return {"idTagInfo": dict(_ACCEPTED)}
    if action in ACTIONS:
        return {}
    raise ValueError(f"v16.respond called for unhandled action {action!r}")


def boot_identity(payload: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(vendor, model, serial number) from a 1.6 BootNotification, for the log."""
    serial = payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber")
    return payload.get("chargePointVendor"), payload.get("chargePointModel"), serial


def _event(
    ctx: CallContext,
    payload: Mapping[str, Any],
    ts: datetime,
    event_type: TransactionEventType,
    transaction_id: int,
    connector: int | None,
    meter_wh: int,
) -> TransactionEvent:
    id_tag = payload.get("idTag")
    return TransactionEvent(
        ts=ts,
        station_id=ctx.station_id,
        site_id=ctx.site_id,
        evse_id=connector,
        connector_id=connector,
        transaction_id=str(transaction_id),
        event_type=event_type,
        source=ctx.source,
        message_id=ctx.message_id,
        received_at=ctx.now,
        stopped_reason=payload.get("reason", "Local") if event_type == "ended" else None,
        meter_wh=float(meter_wh),
        id_token_hash=hash_id_token(id_tag, ctx.id_token_key) if id_tag else None,
    )


def _start(payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    connector = payload["connectorId"]
    # Parse before assigning an id, so that a rejected start does not use one up.
    ts = parse_timestamp(payload["timestamp"], "timestamp")
    tx = ctx.station.sessions16.start(ctx.message_id, connector)
    event = _event(ctx, payload, ts, "started", tx, connector, payload["meterStart"])
    begin = [(ts, [register_reading(payload["meterStart"], "Transaction.Begin")])]
    samples = to_samples(
        begin, ctx, evse_id=connector, connector_id=connector, transaction_id=str(tx)
    )
    return [event, *samples]


def _stop(payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    tx = payload["transactionId"]
    connector = ctx.station.sessions16.connector_of(tx)
    ts = parse_timestamp(payload["timestamp"], "timestamp")
    event = _event(ctx, payload, ts, "ended", tx, connector, payload["meterStop"])
    end = [(ts, [register_reading(payload["meterStop"], "Transaction.End")])]
    usage = timed_readings(payload.get("transactionData", []), ctx.source, "transactionData")
    samples = to_samples(
        end + usage, ctx, evse_id=connector, connector_id=connector, transaction_id=str(tx)
    )
    return [event, *samples]
