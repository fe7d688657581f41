"""OCPP 2.0.1 (and, through ``v21``, 2.1): accepted CALLs -> records, and their answers.

Same shape as ``v16`` and ``v21``: ``ACTIONS``, ``to_records``, ``respond``,
``boot_identity``. Payloads have passed the version's JSON schema before they get here.
The answers are ``connectors.ocpp.answers.ANSWERS_201``, one per Charging Station -> CSMS
action.

These functions serve the actions 2.0.1 and 2.1 share (``v21`` adds the 2.1-only ones),
2.1 unchanged because every 2.0.1 -> 2.1 difference they touch is in the data, and the 2.1
schema already let it through: ``transactionInfo.operationMode`` (the 2.0.1 schema forbids
the member, so it is simply absent there), location ``Upstream``, free-string
``IdTokenType.type``, the relaxed ``signedMeterValue``, the V2X charging needs and the new
measurands are all passed through as sent.

Transactions (PROTOCOLS.md §3): the station chooses ``transactionId``; ``evse`` is optional
and often only on the first event, so the station's ``Transactions2`` remembers it per
transaction id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connectors.ocpp import answers, charging_profiles
from connectors.ocpp.charging_needs import to_charging_needs
from connectors.ocpp.context import CallContext
from connectors.ocpp.id_tokens import hash_id_token
from connectors.ocpp.lifecycle import import_register_wh, stopped_reason_2
from connectors.ocpp.meter_values import timed_readings, to_samples
from connectors.ocpp.periodic_streams import learn_monitors
from connectors.ocpp.timestamps import event_time, parse_timestamp
from gridstream.records import Record, StationInfo, TransactionEvent

ACTIONS: Final = frozenset(answers.ANSWERS_201)
"""CALLs this connector handles; any other is answered NotImplemented by ``parse``."""


def to_records(action: str, payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    """Canonical records for one schema-valid 2.x CALL (empty for most notifications).

    BootNotification: a ``StationInfo``. MeterValues: one ``MeterSample`` per timestamp for
    EVSE ``evseId`` (0 = main meter). TransactionEvent: a ``TransactionEvent`` record
    (``event_type`` lower-cased; an Ended one without ``stoppedReason`` stopped "Local")
    followed by the samples of its ``meterValue``, all tagged with the transaction and its
    EVSE. NotifyEVChargingNeeds: an ``EVChargingNeeds``. NotifyChargingLimit and
    ReportChargingProfiles: a ``ChargingLimit`` per schedule period. NotifyMonitoringReport: no
    records; the station's monitors are remembered (for 2.1 periodic event streams).
    Raises ``InvalidPayload`` for unreadable values.
    """
    if action == "NotifyEVChargingNeeds":
        return [to_charging_needs(payload, ctx)]
    if action == "NotifyChargingLimit":
        return list(charging_profiles.notify_charging_limit(payload, ctx))
    if action == "ReportChargingProfiles":
        return list(charging_profiles.report_charging_profiles(payload, ctx))
    if action == "BootNotification":
        return [_station_info(payload, ctx)]
    if action == "NotifyMonitoringReport":
        learn_monitors(payload, ctx.station.monitors)
        return []
    if action == "MeterValues":
        return list(
            to_samples(
                timed_readings(payload["meterValue"], ctx.source, dropped=ctx.dropped),
                ctx,
                evse_id=payload["evseId"],
                connector_id=None,
                transaction_id=None,
            )
        )
    if action == "TransactionEvent":
        return _transaction_event(payload, ctx)
    if action in ACTIONS:
        return []
    raise ValueError(f"v201.to_records called for unhandled action {action!r}")


def respond(action: str, payload: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    """CALLRESULT payload for one schema-valid 2.0.1 CALL (``answers.ANSWERS_201``)."""
    answer = answers.ANSWERS_201.get(action)
    if answer is None:
        raise ValueError(f"v201.respond called for unhandled action {action!r}")
    return answer(payload, ctx)


def boot_identity(payload: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(vendor, model, serial number) from a 2.x BootNotification, for the log."""
    station = payload.get("chargingStation", {})
    return station.get("vendorName"), station.get("model"), station.get("serialNumber")


def _station_info(payload: Mapping[str, Any], ctx: CallContext) -> StationInfo:
    station = payload["chargingStation"]
    return StationInfo(
        station_id=ctx.station_id,
        received_at=ctx.now,
        source=ctx.source,
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        boot_reason=payload["reason"],
        message_id=ctx.message_id,
    )


def _transaction_event(payload: Mapping[str, Any], ctx: CallContext) -> list[Record]:
    info = payload["transactionInfo"]
    transaction_id: str = info["transactionId"]
    memory = ctx.station.transactions2
    evse_id, connector_id = memory.evse_of(transaction_id)
    evse = payload.get("evse")
    if evse is not None:
        # Same rule as Transactions2.note: an EVSE repeated without connector keeps it.
        connector_id = evse.get("connectorId", connector_id if evse_id == evse["id"] else None)
        evse_id = evse["id"]
    # An empty idToken (type NoAuthorization) identifies nobody: no hash for it.
    token = payload.get("idToken", {}).get("idToken")
    samples = to_samples(
        timed_readings(payload.get("meterValue", []), ctx.source, dropped=ctx.dropped),
        ctx,
        evse_id=evse_id,
        connector_id=connector_id,
        transaction_id=transaction_id,
    )
    at, said = event_time(parse_timestamp(payload["timestamp"], "timestamp"), ctx.now)
    event = TransactionEvent(
        ts=at,
        station_ts=said,
        station_id=ctx.station_id,
        site_id=ctx.site_id,
        evse_id=evse_id,
        connector_id=connector_id,
        transaction_id=transaction_id,
        event_type=payload["eventType"].lower(),
        source=ctx.source,
        message_id=ctx.message_id,
        received_at=ctx.now,
        seq_no=payload["seqNo"],
        # Read only: the seqNo is noted once the broker acknowledged the event (replays).
        seq_gap=ctx.station.replays.seq_nos.missing_before(
            transaction_id, payload["seqNo"], started=payload["eventType"] == "Started"
        ),
        trigger_reason=payload["triggerReason"],
        charging_state=info.get("chargingState"),
        operation_mode=info.get("operationMode"),  # 2.1 only; the 2.0.1 schema forbids it
        stopped_reason=stopped_reason_2(payload["eventType"], info.get("stoppedReason")),
        offline=payload.get("offline", False),
        number_of_phases_used=payload.get("numberOfPhasesUsed"),
        id_token_hash=hash_id_token(token, ctx.id_token_key) if token else None,
        meter_wh=import_register_wh(samples),
    )
    # Remember only once the whole event converted: a rejected event teaches nothing.
    if evse is not None:
        memory.note(transaction_id, evse["id"], connector_id)
    return [event, *samples]
