"""OCPP 1.6: accepted CALLs -> canonical records, and the CALLRESULT payload for each.

Same shape as ``v201`` and ``v21``: ``ACTIONS``, ``to_records``, ``respond``,
``boot_identity``. Payloads reaching these functions have passed the 1.6 JSON schema
(``connectors.ocpp.parse.handle_call`` validates first), so required fields are present
and typed; values the schema cannot check (numbers in strings, timestamps) raise
``InvalidPayload``. The answers are ``connectors.ocpp.answers.ANSWERS_16``, which lists
every Charge Point -> Central System action (the security extension's too).

Transactions (PROTOCOLS.md §2): the CSMS assigns the integer ``transactionId`` in the
StartTransaction answer (``Sessions16.start``); StopTransaction names only that id, so the
connector comes from the station's ``Sessions16``. In 1.6 EVSE and connector are one:
``evse_id`` = ``connector_id`` = ``connectorId``, 0 being the main meter. The session
lifecycle is the 2.x one (``connectors.ocpp.lifecycle``): started, updated for each
MeterValues naming the transaction, ended with the stop reason in the 2.x vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from connectors.ocpp import answers
from connectors.ocpp.context import CallContext
from connectors.ocpp.id_tokens import hash_id_token
from connectors.ocpp.lifecycle import import_register_wh, stopped_reason_16
from connectors.ocpp.meter_values import register_reading, timed_readings, to_samples
from connectors.ocpp.timestamps import event_time, parse_timestamp
from gridstream.records import Record, StationInfo, TransactionEvent, TransactionEventType

ACTIONS: Final = frozenset(answers.ANSWERS_16)
"""CALLs this connector handles; any other is answered NotImplemented by ``parse``."""


def to_records(action: str, payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    """Canonical records for one schema-valid 1.6 CALL (empty for most notifications).

    BootNotification: a ``StationInfo``. MeterValues: one ``MeterSample`` per timestamp;
    ``transactionId`` 0 or absent means no transaction, otherwise a ``TransactionEvent``
    "updated" (``meter_wh`` = the latest import register) comes first, as a 2.x Updated
    event would. StartTransaction: "started" (``meter_wh`` = meterStart) and a sample with
    the import register at meterStart, context Transaction.Begin. StopTransaction: "ended"
    (``stopped_reason`` = reason in 2.x terms, "Local" when absent as the spec says), a
    sample at meterStop (Transaction.End) and the ``transactionData`` samples. Raises
    ``InvalidPayload`` for unreadable values.
    """
    if action == "MeterValues":
        return _meter_values(payload, ctx)
    if action == "StartTransaction":
        return _start(payload, ctx)
    if action == "StopTransaction":
        return _stop(payload, ctx)
    if action == "BootNotification":
        return [_station_info(payload, ctx)]
    if action in ACTIONS:
        return []
    raise ValueError(f"v16.to_records called for unhandled action {action!r}")


def respond(action: str, payload: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    """CALLRESULT payload for one schema-valid 1.6 CALL (``answers.ANSWERS_16``)."""
    answer = answers.ANSWERS_16.get(action)
    if answer is None:
        raise ValueError(f"v16.respond called for unhandled action {action!r}")
    return answer(payload, ctx)


def boot_identity(payload: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(vendor, model, serial number) from a 1.6 BootNotification, for the log."""
    serial = payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber")
    return payload.get("chargePointVendor"), payload.get("chargePointModel"), serial


def _station_info(payload: Mapping[str, Any], ctx: CallContext) -> StationInfo:
    _, _, serial = boot_identity(payload)
    return StationInfo(
        station_id=ctx.station_id,
        received_at=ctx.now,
        source=ctx.source,
        vendor=payload["chargePointVendor"],
        model=payload["chargePointModel"],
        serial_number=serial,
        firmware_version=payload.get("firmwareVersion"),
        meter_type=payload.get("meterType"),
        meter_serial_number=payload.get("meterSerialNumber"),
        message_id=ctx.message_id,
    )


def _event(
    ctx: CallContext,
    payload: Mapping[str, Any],
    ts: datetime,
    event_type: TransactionEventType,
    transaction_id: int,
    connector: int | None,
    meter_wh: float | None,
    station_ts: str | None = None,
) -> TransactionEvent:
    id_tag = payload.get("idTag")
    return TransactionEvent(
        ts=ts,
        station_ts=station_ts,
        station_id=ctx.station_id,
        site_id=ctx.site_id,
        evse_id=connector,
        connector_id=connector,
        transaction_id=str(transaction_id),
        event_type=event_type,
        source=ctx.source,
        message_id=ctx.message_id,
        received_at=ctx.now,
        stopped_reason=stopped_reason_16(payload.get("reason")) if event_type == "ended" else None,
        meter_wh=meter_wh,
        id_token_hash=hash_id_token(id_tag, ctx.id_token_key) if id_tag else None,
    )


def _meter_values(payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    connector = payload["connectorId"]
    tx = payload.get("transactionId")
    samples = to_samples(
        timed_readings(payload["meterValue"], ctx.source, dropped=ctx.dropped),
        ctx,
        evse_id=connector,
        connector_id=connector,
        transaction_id=str(tx) if tx else None,  # 0 = none (SAP issue #1817)
    )
    if not tx or not samples:
        return list(samples)
    latest = max(sample.ts for sample in samples)
    updated = _event(ctx, payload, latest, "updated", tx, connector, import_register_wh(samples))
    return [updated, *samples]


def _start(payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    connector = payload["connectorId"]
    # Parse before assigning an id, so that a rejected start does not use one up.
    ts = parse_timestamp(payload["timestamp"], "timestamp")
    tx = ctx.station.sessions16.start(ctx.message_id, payload)
    at, said = event_time(ts, ctx.now)  # the sample below is repaired by to_samples
    event = _event(ctx, payload, at, "started", tx, connector, float(payload["meterStart"]), said)
    begin = [(ts, [register_reading(payload["meterStart"], "Transaction.Begin")])]
    samples = to_samples(
        begin, ctx, evse_id=connector, connector_id=connector, transaction_id=str(tx)
    )
    return [event, *samples]


def _stop(payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    tx = payload["transactionId"]
    connector = ctx.station.sessions16.connector_of(tx)
    ts = parse_timestamp(payload["timestamp"], "timestamp")
    at, said = event_time(ts, ctx.now)
    event = _event(ctx, payload, at, "ended", tx, connector, float(payload["meterStop"]), said)
    end = [(ts, [register_reading(payload["meterStop"], "Transaction.End")])]
    usage = timed_readings(
        payload.get("transactionData", []), ctx.source, "transactionData", dropped=ctx.dropped
    )
    samples = to_samples(
        end + usage, ctx, evse_id=connector, connector_id=connector, transaction_id=str(tx)
    )
    return [event, *samples]
