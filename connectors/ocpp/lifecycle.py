"""One session lifecycle for OCPP 1.6 and 2.x: the vocabulary both version modules share.

A 1.6 session (StartTransaction, MeterValues with its transactionId, StopTransaction) and
a 2.x one (TransactionEvent Started, Updated, Ended) of the same physical story give
``TransactionEvent`` records of the same shape: ``started``, ``updated`` per in-session
meter message, ``ended``; ``meter_wh`` the import register at each (1.6 meterStart /
meterStop; 2.x the register in the event's own meter values); EVSE and connector; the
hashed id token; and ``stopped_reason`` in the 2.x ``ReasonEnumType`` vocabulary.

1.6 stop reasons (StopTransaction ``reason``) onto 2.x ``ReasonEnumType``: the same name
where 2.x has it (DeAuthorized, EmergencyStop, EVDisconnected, Local, Other, PowerLoss,
Reboot, Remote); the three 1.6-only ones as

- ``HardReset`` and ``SoftReset`` -> ``ImmediateReset``: both are a Reset command that
  stops the transaction; 2.x has one reset that does (Immediate; OnIdle waits for the
  session to end). Whether it was hard or soft is not kept.
- ``UnlockCommand`` -> ``Remote``: the CSMS ended it (a 2.x station reports an unlock
  command as the trigger, not as the reason).

An absent reason is ``Local`` in both versions: 1.6 says so for StopTransaction, and 2.x
says ``stoppedReason`` "MAY only be omitted when [it] is Local" (ReasonEnumType).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from gridstream.records import MeterSample
from gridstream.registers import sample_registers

#: Stop reason when the station gives none (1.6 StopTransaction; 2.x Ended event).
DEFAULT_STOPPED_REASON: Final = "Local"

STOPPED_REASON_16_TO_2: Final[Mapping[str, str]] = {
    "HardReset": "ImmediateReset",
    "SoftReset": "ImmediateReset",
    "UnlockCommand": "Remote",
}
"""1.6 stop reasons spelled differently in 2.x; every other 1.6 reason is a 2.x one too."""


def stopped_reason_16(reason: str | None) -> str:
    """A 1.6 StopTransaction ``reason`` in the 2.x vocabulary (absent: ``Local``).

    >>> stopped_reason_16("SoftReset"), stopped_reason_16(None), stopped_reason_16("Remote")
    ('ImmediateReset', 'Local', 'Remote')
    """
    if reason is None:
        return DEFAULT_STOPPED_REASON
    return STOPPED_REASON_16_TO_2.get(reason, reason)


def stopped_reason_2(event_type: str, reason: str | None) -> str | None:
    """A 2.x ``stoppedReason``: as sent; ``Local`` for an Ended event without one.

    Only Ended events stop a session, so other events keep None.

    >>> stopped_reason_2("Ended", None), stopped_reason_2("Updated", None)
    ('Local', None)
    """
    if reason is None and event_type == "Ended":
        return DEFAULT_STOPPED_REASON
    return reason


def import_register_wh(samples: Sequence[MeterSample]) -> float | None:
    """The import register of the latest sample that has one, Wh; None if none has.

    Started and Ended carry the Transaction.Begin / Transaction.End register, so a 2.x
    session gets a start and an end register as a 1.6 one does (meterStart / meterStop);
    an in-session meter message gives its latest reading.
    """
    for sample in sorted(samples, key=lambda s: s.ts, reverse=True):
        imported, _ = sample_registers(sample.readings)
        if imported is not None:
            return imported
    return None
