"""What the 1.6 and 2.x station speakers share: timestamps, units, reasons, the interface.

Nothing here does I/O; ``StationSpeaker`` is the interface ``stations.py`` drives, one
implementation per protocol family (``ocpp16.V16Speaker``, ``ocpp2.V2Speaker``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Protocol

from simulator.evse import EndReason, EvseStep, SampleKind


class StationSpeaker(Protocol):
    """Turns a station's steps into OCPP calls, one answered call at a time.

    Each register value is recorded in the ledger (if any) only after the CSMS answered
    the call that carried it. CALLERRORs raise (``call(..., suppress=False)``).
    """

    async def boot(self, ts: datetime) -> None:
        """BootNotification, then an Available StatusNotification per EVSE at ``ts``."""

    async def heartbeat(self) -> None:
        """One Heartbeat."""

    async def send(self, step: EvseStep) -> bool:
        """Report one EVSE step; False when the CSMS refused the session it started."""


def wire_time(ts: datetime) -> str:
    """OCPP timestamp: UTC, ISO 8601 with ``Z``.

    >>> wire_time(datetime(2026, 1, 15, 10, 15, tzinfo=UTC))
    '2026-01-15T10:15:00Z'
    """
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def kwh_text(wh: int) -> str:
    """Whole Wh as a kWh decimal string with three decimals, exactly (no float rounding).

    >>> kwh_text(1234567)
    '1234.567'
    >>> kwh_text(5)
    '0.005'
    """
    return f"{wh // 1000}.{wh % 1000:03d}"


#: Reading context of a meter sample (OCPP 1.6 and 2.x share the names).
SAMPLE_CONTEXT: Final[dict[SampleKind, str]] = {
    "clock": "Sample.Clock",
    "periodic": "Sample.Periodic",
}

#: OCPP 1.6 StopTransaction.reason per end reason.
STOP_REASON_16: Final[dict[EndReason, str]] = {
    "departed": "EVDisconnected",
    "shutdown": "Local",
    "refused": "DeAuthorized",
}

#: OCPP 2.x TransactionEvent Ended (triggerReason, stoppedReason) per end reason.
ENDED_2X: Final[dict[EndReason, tuple[str, str]]] = {
    "departed": ("EVDeparted", "EVDisconnected"),
    "shutdown": ("StopAuthorized", "Local"),
    "refused": ("Deauthorized", "DeAuthorized"),
}

#: Voltage phase labels (phase to neutral) and current phase labels, L1..L3 in order.
VOLTAGE_PHASES: Final = ("L1-N", "L2-N", "L3-N")
CURRENT_PHASES: Final = ("L1", "L2", "L3")
