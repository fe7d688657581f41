"""BootNotification -> StationInfo for the registry.stations topic, every version."""

from __future__ import annotations

from gridstream import topics
from gridstream.records import StationInfo


def test_16_boot_tells_vendor_model_serial_firmware_and_meter(run_call, now):
    payload = {
        "chargePointVendor": "VendorX",
        "chargePointModel": "M1",
        "chargePointSerialNumber": "CP-SN-1",
        "chargeBoxSerialNumber": "BOX-SN-1",  # deprecated twin: the charge point one wins
        "firmwareVersion": "1.2.3",
        "meterType": "EM340",
        "meterSerialNumber": "MSN-9",
        "iccid": "8931",  # SIM identifiers are not kept
    }
    result = run_call("BootNotification", payload, message_id="b-1")
    assert result.records == (
        StationInfo(
            station_id="CS-1",
            received_at=now,
            source="ocpp1.6",
            vendor="VendorX",
            model="M1",
            serial_number="CP-SN-1",
            firmware_version="1.2.3",
            meter_type="EM340",
            meter_serial_number="MSN-9",
            message_id="b-1",
        ),
    )
    assert result.response["status"] == "Accepted"


def test_16_boot_with_only_the_deprecated_serial_keeps_it(run_call):
    payload = {"chargePointVendor": "V", "chargePointModel": "M", "chargeBoxSerialNumber": "B-1"}
    (info,) = run_call("BootNotification", payload).records
    assert info.serial_number == "B-1"


def test_2x_boot_tells_vendor_model_serial_firmware_and_reason(run_call, now):
    payload = {
        "reason": "FirmwareUpdate",
        "chargingStation": {
            "vendorName": "VendorY",
            "model": "M2",
            "serialNumber": "SN-2",
            "firmwareVersion": "2.0",
            "modem": {"iccid": "8931", "imsi": "2040"},
        },
    }
    for source in ("ocpp2.0.1", "ocpp2.1"):
        (info,) = run_call("BootNotification", payload, source=source).records
        assert info == StationInfo(
            station_id="CS-1",
            received_at=now,
            source=source,
            vendor="VendorY",
            model="M2",
            serial_number="SN-2",
            firmware_version="2.0",
            boot_reason="FirmwareUpdate",
            message_id="m-1",
        )


def test_station_info_goes_to_the_compacted_registry_keyed_by_station():
    info = StationInfo(
        station_id="CS-1",
        received_at="2026-01-15T18:00:00Z",
        source="ocpp2.1",
        vendor="V",
        model="M",
    )
    topic = topics.for_record(info)
    assert (topic.name, topics.key_of(info), topic.cleanup_policy) == (
        "registry.stations",
        b"CS-1",
        "compact",
    )
    assert topic.configs == topics.REGISTRY_SITES.configs  # same retention as registry.sites
