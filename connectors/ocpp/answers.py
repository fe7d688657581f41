"""What this CSMS answers to each CALL a station may send, per OCPP version: one table each.

Every station -> CSMS action of a version has exactly one entry, so an action the version
defines is never answered NotImplemented; an action that is not in the table (one the CSMS
sends, or one the version does not have) is, by ``connectors.ocpp.parse``. Each answer
validates against the ``ocpp`` package's response schema of that version (a unit test walks
the package's schema folders to prove it), and each is honest about what gridstream does:

- **Authorize** is ``Accepted``. gridstream is a metering pipeline, not an authorisation
  service: it holds no token list and refuses nobody. Put it behind (proxy mode) or beside
  a CSMS that authorises when drivers must be checked. Transactions are accepted alike.
- **DataTransfer** is ``UnknownVendorId``: no vendor extension is understood here.
- Certificate requests (SignCertificate, Get15118EVCertificate, GetCertificateStatus,
  2.1 GetCertificateChainStatus) are ``Rejected`` / ``Failed``: there is no CA, no contract
  certificate pool and no OCSP client behind this CSMS.
- Notifications whose answer carries nothing (status, firmware, logs, events, reports,
  security events, ...) get ``{}``; those that gridstream reads (MeterValues,
  TransactionEvent, NotifyEVChargingNeeds, the 2.1 periodic stream ones) are turned into
  records by the version modules, and the answer is sent only after the broker took them.

An ``Answer`` is a pure function of the payload and the call's context (receive time,
station memory); it runs after the payload passed its request schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

from connectors.ocpp.context import CallContext
from connectors.ocpp.timestamps import format_timestamp

Answer: TypeAlias = Callable[[Mapping[str, Any], CallContext], dict[str, Any]]
"""The CALLRESULT payload for one schema-valid CALL."""

#: Seconds between heartbeats asked for in the BootNotification answer.
HEARTBEAT_INTERVAL_S: Final = 300


def _fixed(payload: Mapping[str, Any]) -> Answer:
    """An answer that does not depend on the call (a fresh copy each time)."""

    def answer(_: Mapping[str, Any], __: CallContext) -> dict[str, Any]:
        return _deep_copy(payload)

    return answer


def _deep_copy(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in value.items()}


_EMPTY: Final = _fixed({})
_ACCEPTED: Final = _fixed({"status": "Accepted"})


def _boot_16(_: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    # Every station is registered: unknown ones are refused at the handshake, not here.
    return {
        "status": "Accepted",
        "currentTime": format_timestamp(ctx.now),
        "interval": HEARTBEAT_INTERVAL_S,
    }


def _boot_2(_: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    return {
        "currentTime": format_timestamp(ctx.now),
        "interval": HEARTBEAT_INTERVAL_S,
        "status": "Accepted",
    }


def _heartbeat(_: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    return {"currentTime": format_timestamp(ctx.now)}


def _start_16(payload: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    # 1.6 transaction ids are the CSMS's; the same CALL asked twice gets the same id.
    tx = ctx.station.sessions16.start(ctx.message_id, payload)
    return {"transactionId": tx, "idTagInfo": {"status": "Accepted"}}


def _transaction_event(payload: Mapping[str, Any], _: CallContext) -> dict[str, Any]:
    # 2.x Part 2, TransactionEventResponse: idTokenInfo "is required when the
    # TransactionEventRequest contained an idToken". Accepted: no authorisation here.
    return {"idTokenInfo": {"status": "Accepted"}} if "idToken" in payload else {}


def _chain_status_failed(payload: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    # One status per certificate asked about (the schema wants them all); Failed: no OCSP
    # client or CRL here. nextUpdate is required: now, i.e. nothing to wait for.
    return {
        "certificateStatus": [
            {
                "certificateHashData": _deep_copy(request["certificateHashData"]),
                "source": request["source"],
                "status": "Failed",
                "nextUpdate": format_timestamp(ctx.now),
            }
            for request in payload["certificateStatusRequests"]
        ]
    }


def _vat_not_validated(payload: Mapping[str, Any], _: CallContext) -> dict[str, Any]:
    # Rejected: nothing here can check a VAT number (no registry lookup); the number and
    # the EVSE are echoed as the response schema asks.
    answer: dict[str, Any] = {"vatNumber": payload["vatNumber"], "status": "Rejected"}
    if "evseId" in payload:
        answer["evseId"] = payload["evseId"]
    return answer


ANSWERS_16: Final[Mapping[str, Answer]] = {
    "Authorize": _fixed({"idTagInfo": {"status": "Accepted"}}),  # no authorisation here
    "BootNotification": _boot_16,
    "DataTransfer": _fixed({"status": "UnknownVendorId"}),  # no vendor extension known
    "DiagnosticsStatusNotification": _EMPTY,
    "FirmwareStatusNotification": _EMPTY,
    "Heartbeat": _heartbeat,
    "MeterValues": _EMPTY,  # records: meter samples
    "StartTransaction": _start_16,  # records: session started
    "StatusNotification": _EMPTY,
    "StopTransaction": _fixed({"idTagInfo": {"status": "Accepted"}}),  # records: ended
    # Security extension (1.6 security whitepaper edition 2), in the package's 1.6 schemas.
    "LogStatusNotification": _EMPTY,
    "SecurityEventNotification": _EMPTY,
    "SignCertificate": _fixed({"status": "Rejected"}),  # no CA to sign the CSR
    "SignedFirmwareStatusNotification": _EMPTY,
}
"""OCPP 1.6 (with the security extension): every Charge Point -> Central System action."""

ANSWERS_201: Final[Mapping[str, Answer]] = {
    "Authorize": _fixed({"idTokenInfo": {"status": "Accepted"}}),  # no authorisation here
    "BootNotification": _boot_2,
    "ClearedChargingLimit": _EMPTY,
    "DataTransfer": _fixed({"status": "UnknownVendorId"}),  # no vendor extension known
    "FirmwareStatusNotification": _EMPTY,
    # No contract certificate pool (no eMSP / PKI link): the EV gets no certificate.
    "Get15118EVCertificate": _fixed({"status": "Failed", "exiResponse": ""}),
    "GetCertificateStatus": _fixed({"status": "Failed"}),  # no OCSP client
    "Heartbeat": _heartbeat,
    "LogStatusNotification": _EMPTY,
    "MeterValues": _EMPTY,  # records: meter samples
    "NotifyChargingLimit": _EMPTY,
    "NotifyCustomerInformation": _EMPTY,
    "NotifyDisplayMessages": _EMPTY,
    # Records: ev.charging_needs. Accepted = processed; it promises no charging profile
    # (schema: "does not imply that the evChargingNeeds can be met").
    "NotifyEVChargingNeeds": _ACCEPTED,
    # This CSMS sets no charging limits, so the EV's schedule breaks none of them.
    "NotifyEVChargingSchedule": _ACCEPTED,
    "NotifyEvent": _EMPTY,
    "NotifyMonitoringReport": _EMPTY,  # read: which monitor watches which variable
    "NotifyReport": _EMPTY,
    "PublishFirmwareStatusNotification": _EMPTY,
    "ReportChargingProfiles": _EMPTY,
    "ReservationStatusUpdate": _EMPTY,
    "SecurityEventNotification": _EMPTY,
    "SignCertificate": _fixed({"status": "Rejected"}),  # no CA to sign the CSR
    "StatusNotification": _EMPTY,
    "TransactionEvent": _transaction_event,  # records: session events and meter samples
}
"""OCPP 2.0.1: every Charging Station -> CSMS action."""

ANSWERS_21: Final[Mapping[str, Answer]] = {
    **ANSWERS_201,
    "BatterySwap": _EMPTY,
    "ClosePeriodicEventStream": _EMPTY,  # the stream is forgotten
    "GetCertificateChainStatus": _chain_status_failed,
    "NotifyDERAlarm": _EMPTY,
    "NotifyDERStartStop": _EMPTY,
    "NotifyPriorityCharging": _EMPTY,
    "NotifySettlement": _EMPTY,
    # The stream's values become meter readings (connectors.ocpp.periodic_streams).
    "OpenPeriodicEventStream": _ACCEPTED,
    # No dynamic charging profile was ever set by this CSMS: nothing to update.
    "PullDynamicScheduleUpdate": _fixed({"status": "Rejected"}),
    "ReportDERControl": _EMPTY,
    "VatNumberValidation": _vat_not_validated,
}
"""OCPP 2.1: the 2.0.1 actions and the 2.1 additions (NotifyPeriodicEventStream is a SEND,
never answered, and so is not here)."""
