"""Every CALL a station may send gets a schema-valid answer; anything else NotImplemented.

The action lists are the request schemas of the installed ``ocpp`` package, split by who
sends them. The split is written out here (the schemas do not say who sends what) and the
first test proves it covers every schema file, so a package upgrade that adds an action
fails here until someone decides who sends it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from ocpp.messages import MessageType, get_validator

from connectors.ocpp import Accepted, Rejected, StationState, v16, v21, v201
from connectors.ocpp.answers import ANSWERS_16, ANSWERS_21, ANSWERS_201

# OCPP 1.6 edition 2 §4 (Charge Point -> Central System) and the 1.6 security whitepaper
# edition 2 (LogStatusNotification, SecurityEventNotification, SignCertificate,
# SignedFirmwareStatusNotification).
STATION_16 = {
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
}
CSMS_16 = {
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",  # both ways
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "InstallCertificate",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SignedUpdateFirmware",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
}
# OCPP 2.0.1 Part 2, the messages each use case has the Charging Station send.
STATION_201 = {
    "Authorize",
    "BootNotification",
    "ClearedChargingLimit",
    "DataTransfer",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
}
CSMS_201 = {
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ClearCache",
    "ClearChargingProfile",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "CostUpdated",
    "CustomerInformation",
    "DataTransfer",  # both ways
    "DeleteCertificate",
    "GetBaseReport",
    "GetChargingProfiles",
    "GetCompositeSchedule",
    "GetDisplayMessages",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "InstallCertificate",
    "PublishFirmware",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "SetVariables",
    "TriggerMessage",
    "UnlockConnector",
    "UnpublishFirmware",
    "UpdateFirmware",
}
# OCPP 2.1 adds these (2.1 Part 2); NotifyPeriodicEventStream is a SEND, not a CALL.
STATION_21 = STATION_201 | {
    "BatterySwap",
    "ClosePeriodicEventStream",
    "GetCertificateChainStatus",
    "NotifyDERAlarm",
    "NotifyDERStartStop",
    "NotifyPriorityCharging",
    "NotifySettlement",
    "OpenPeriodicEventStream",
    "PullDynamicScheduleUpdate",
    "ReportDERControl",
    "VatNumberValidation",
}
CSMS_21 = CSMS_201 | {
    "AFRRSignal",
    "AdjustPeriodicEventStream",
    "ChangeTransactionTariff",
    "ClearDERControl",
    "ClearTariffs",
    "GetDERControl",
    "GetPeriodicEventStream",
    "GetTariffs",
    "NotifyAllowedEnergyTransfer",
    "NotifyWebPaymentStarted",
    "RequestBatterySwap",
    "SetDERControl",
    "SetDefaultTariff",
    "UpdateDynamicSchedule",
    "UsePriorityCharging",
}
SENDS_21 = {"NotifyPeriodicEventStream"}

VERSIONS = {
    # subprotocol: (package version, schema folder, station actions, CSMS actions, SENDs)
    "ocpp1.6": ("1.6", "v16", STATION_16, CSMS_16, set()),
    "ocpp2.0.1": ("2.0.1", "v201", STATION_201, CSMS_201, set()),
    "ocpp2.1": ("2.1", "v21", STATION_21, CSMS_21, SENDS_21),
}
TABLES = {"ocpp1.6": ANSWERS_16, "ocpp2.0.1": ANSWERS_201, "ocpp2.1": ANSWERS_21}
MODULES = {"ocpp1.6": v16, "ocpp2.0.1": v201, "ocpp2.1": v21}


def schema_actions(folder: str) -> set[str]:
    """Actions with a request schema in the package (1.6 files have no Request suffix)."""
    names = {
        path.name.removesuffix(".json")
        for path in resources.files("ocpp").joinpath(folder, "schemas").iterdir()
        if path.name.endswith(".json")
    }
    return {n.removesuffix("Request") for n in names if not n.endswith("Response")}


def schema(folder: str, name: str) -> dict[str, Any]:
    text = (
        resources.files("ocpp").joinpath(folder, "schemas", f"{name}.json").read_text("utf-8-sig")
    )
    return json.loads(text)


def minimal(node: dict[str, Any], root: dict[str, Any]) -> Any:
    """The smallest instance of a schema node: required members only, first enum value."""
    if "$ref" in node:
        return minimal(root["definitions"][node["$ref"].rsplit("/", 1)[1]], root)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {key: minimal(node["properties"][key], root) for key in node.get("required", [])}
    if kind == "array":
        return [minimal(node["items"], root)] * max(node.get("minItems", 1), 1)
    if kind == "string":
        return "2026-01-15T17:00:00Z" if node.get("format") == "date-time" else "0"
    if kind in ("integer", "number"):
        return max(1, node.get("minimum", 1))  # ids (evseId, connectorId) start at 1
    if kind == "boolean":
        return False
    raise AssertionError(f"no minimal value for {node}")


def station_calls() -> list[tuple[str, str]]:
    return [(v, a) for v, (_, _, station, _, _) in VERSIONS.items() for a in sorted(station)]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_split_by_sender_covers_every_request_schema_of_the_package(version):
    _, folder, station, csms, sends = VERSIONS[version]
    assert station | csms | sends == schema_actions(folder)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_station_action_and_no_other_has_an_answer(version):
    _, _, station, _, _ = VERSIONS[version]
    assert set(TABLES[version]) == station
    assert MODULES[version].ACTIONS == station


@pytest.mark.parametrize(("version", "action"), station_calls())
def test_every_station_action_is_accepted_with_a_schema_valid_answer(run_call, version, action):
    package_version, folder, _, _, _ = VERSIONS[version]
    name = action if version == "ocpp1.6" else f"{action}Request"
    request_schema = schema(folder, name)
    payload = minimal(request_schema, request_schema)
    # The generated request is itself valid, so any failure below is the connector's.
    assert list(get_validator(MessageType.Call, action, package_version).iter_errors(payload)) == []

    result = run_call(action, payload, source=version, station=StationState())

    assert isinstance(result, Accepted), result
    response_validator = get_validator(MessageType.CallResult, action, package_version)
    assert list(response_validator.iter_errors(result.response)) == [], result.response


@pytest.mark.parametrize(
    ("version", "action"),
    [
        ("ocpp1.6", "Reset"),  # the CSMS sends it
        ("ocpp1.6", "TransactionEvent"),  # not a 1.6 action
        ("ocpp2.0.1", "RequestStartTransaction"),
        ("ocpp2.0.1", "OpenPeriodicEventStream"),  # 2.1 only
        ("ocpp2.1", "SetChargingProfile"),
        ("ocpp2.1", "NotifyPeriodicEventStream"),  # a SEND, never a CALL
        ("ocpp2.1", "NoSuchAction"),
    ],
)
def test_an_action_outside_the_versions_station_list_is_not_implemented(run_call, version, action):
    rejected = run_call(action, {}, source=version)
    assert isinstance(rejected, Rejected)
    assert (rejected.reason_code, rejected.ocpp_error_code) == ("unknown_action", "NotImplemented")


@pytest.mark.parametrize(
    ("version", "action", "payload", "answer"),
    [
        # This CSMS does not authorise: every token is Accepted (README, answers.py).
        ("ocpp1.6", "Authorize", {"idTag": "TAG"}, {"idTagInfo": {"status": "Accepted"}}),
        (
            "ocpp2.0.1",
            "Authorize",
            {"idToken": {"idToken": "TAG", "type": "ISO14443"}},
            {"idTokenInfo": {"status": "Accepted"}},
        ),
        # No vendor extension is understood.
        ("ocpp1.6", "DataTransfer", {"vendorId": "acme"}, {"status": "UnknownVendorId"}),
        ("ocpp2.1", "DataTransfer", {"vendorId": "acme"}, {"status": "UnknownVendorId"}),
        # No CA, no contract certificates, no OCSP.
        ("ocpp1.6", "SignCertificate", {"csr": "CSR"}, {"status": "Rejected"}),
        ("ocpp2.0.1", "SignCertificate", {"csr": "CSR"}, {"status": "Rejected"}),
        (
            "ocpp2.1",
            "Get15118EVCertificate",
            {
                "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                "action": "Install",
                "exiRequest": "AAAA",
            },
            {"status": "Failed", "exiResponse": ""},
        ),  # fmt: skip
        # Notifications carry nothing back.
        (
            "ocpp2.0.1",
            "SecurityEventNotification",
            {"type": "SettingSystemTime", "timestamp": "2026-01-15T17:00:00Z"},
            {},
        ),  # fmt: skip
        (
            "ocpp2.1",
            "OpenPeriodicEventStream",
            {"constantStreamData": {"id": 1, "variableMonitoringId": 7, "params": {}}},
            {"status": "Accepted"},
        ),  # fmt: skip
    ],
)
def test_answers_say_what_this_csms_does(run_call, version, action, payload, answer):
    result = run_call(action, payload, source=version)
    assert result == Accepted(records=(), response=answer)


def test_certificate_chain_status_is_failed_for_each_certificate_asked_about(run_call, now):
    hashes = [
        {"hashAlgorithm": "SHA256", "issuerNameHash": f"n{i}", "issuerKeyHash": f"k{i}",
         "serialNumber": f"s{i}"}
        for i in (1, 2)
    ]  # fmt: skip
    requests = [{"source": "OCSP", "urls": ["http://ocsp.example"], "certificateHashData": h}
                for h in hashes]  # fmt: skip
    result = run_call(
        "GetCertificateChainStatus", {"certificateStatusRequests": requests}, source="ocpp2.1"
    )
    assert result.response == {
        "certificateStatus": [
            # nextUpdate is required: now (the receive time), nothing to wait for.
            {"certificateHashData": h, "source": "OCSP", "status": "Failed",
             "nextUpdate": "2026-01-15T18:00:05.000Z"}
            for h in hashes
        ]
    }  # fmt: skip


def test_vat_number_is_echoed_and_not_validated(run_call):
    result = run_call(
        "VatNumberValidation", {"vatNumber": "BE0123456789", "evseId": 2}, source="ocpp2.1"
    )
    assert result.response == {"vatNumber": "BE0123456789", "status": "Rejected", "evseId": 2}
