"""OCPP-J frames for the scale bench: BootNotification, Heartbeat and MeterValues.

Pure builders (the clock and counters come in as arguments) for OCPP 1.6 and 2.0.1, so
that a load process can run thousands of stations without one ``ocpp`` ChargePoint
object each. MeterValues carry ``READINGS_PER_FRAME`` sampled values, as ``bench.load``
does: register, power, three currents, three voltages, SoC and frequency. 1.6 values are
strings, as that version's schema requires.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final, Literal, TypeAlias

from bench.load import READINGS_PER_FRAME, meter_values_frame

Version: TypeAlias = Literal["ocpp1.6", "ocpp2.0.1"]

#: The subprotocols the scale bench speaks (2.1 frames are 2.0.1's for these actions).
VERSIONS: Final[tuple[Version, ...]] = ("ocpp1.6", "ocpp2.0.1")

__all__ = [
    "READINGS_PER_FRAME",
    "VERSIONS",
    "Version",
    "boot_frame",
    "heartbeat_frame",
    "meter_frame",
    "version_of",
]


def version_of(index: int, versions: tuple[Version, ...]) -> Version:
    """The version station ``index`` speaks: the ``versions`` taken in turn.

    >>> version_of(3, ("ocpp1.6", "ocpp2.0.1"))
    'ocpp2.0.1'
    """
    return versions[index % len(versions)]


def _timestamp(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def boot_frame(version: Version, message_id: str, serial: str) -> str:
    """A BootNotification CALL (vendor ``Gridstream``, model ``ScaleBench``)."""
    if version == "ocpp1.6":
        payload: dict[str, object] = {
            "chargePointVendor": "Gridstream",
            "chargePointModel": "ScaleBench",
            "chargePointSerialNumber": serial,
        }
    else:
        payload = {
            "reason": "PowerUp",
            "chargingStation": {
                "vendorName": "Gridstream",
                "model": "ScaleBench",
                "serialNumber": serial,
            },
        }
    return json.dumps([2, message_id, "BootNotification", payload])


def heartbeat_frame(message_id: str) -> str:
    """A Heartbeat CALL (the same empty payload in every version)."""
    return json.dumps([2, message_id, "Heartbeat", {}])


def meter_frame(version: Version, message_id: str, ts: datetime, register_wh: float) -> str:
    """A MeterValues CALL for EVSE/connector 1 with ``READINGS_PER_FRAME`` sampled values."""
    if version == "ocpp2.0.1":
        return meter_values_frame(message_id, 1, ts, register_wh)
    sampled = [
        {
            "value": f"{register_wh:.1f}",
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
        },
        {"value": "11.04", "measurand": "Power.Active.Import", "unit": "kW"},
        *(
            {"value": "16.0", "measurand": "Current.Import", "phase": p, "unit": "A"}
            for p in ("L1", "L2", "L3")
        ),
        *(
            {"value": "230.0", "measurand": "Voltage", "phase": p, "unit": "V"}
            for p in ("L1-N", "L2-N", "L3-N")
        ),
        {"value": "55", "measurand": "SoC", "unit": "Percent"},
        {"value": "50.0", "measurand": "Frequency"},
    ]
    payload = {
        "connectorId": 1,
        "meterValue": [{"timestamp": _timestamp(ts), "sampledValue": sampled}],
    }
    return json.dumps([2, message_id, "MeterValues", payload])
