"""What makes a simulated station as messy as a real one, placed at known times in a run.

Pure data. Every time here is an offset from the run's start (a quarter-hour boundary),
so a quirk happens at the same simulated minute of every run, whatever the seed:

- ``Sampling``: a station's own sample period (readings off the quarter-hour boundaries),
  optionally every minute boundary too (sites whose load is netted per minute);
- ``Offline``: the station holds everything it has to say over a window and sends it when
  the window ends (2.x ``offline: true``; 1.6 queued messages);
- ``Misread``: one periodic register reading shows a wrong value (``0``, or one digit read
  as 0) and the next reading is right again;
- ``MeterReset``: the register drops to a new meter's value and keeps counting from there;
- ``Visit``: a session planned at a fixed time (so the quirks above hit a charging EVSE),
  optionally reusing the previous session's transaction id (2.x).

The ledger (``ledger.Ledger``) records what the pipeline must make of each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from gridstream.periods import QUARTER_HOUR

MisreadKind = Literal["zero", "digit", "jump"]
"""``zero``: the register reads 0 ("0.00"); ``digit``: its first non-zero digit after the
leading one reads as 0 (lower than the truth); ``jump``: its first digit after the leading
one that is not 9 reads as 9 (higher: more than the EVSE could have delivered since)."""


@dataclass(frozen=True)
class Sampling:
    """When a station samples its meters, besides every quarter-hour boundary.

    ``period``: every ``period`` after each boundary within the quarter-hour (None: the
    run's ``SimOptions.sample_interval``); ``every_minute``: every minute boundary too.
    """

    period: timedelta | None = None
    every_minute: bool = False

    def __post_init__(self) -> None:
        """Refuse a period that is not whole seconds within (0 s, 15 min]."""
        if self.period is not None:
            check_period(self.period)


def check_period(period: timedelta) -> None:
    """Refuse a sample period that is not a whole number of seconds within (0, 15 min]."""
    if period <= timedelta(0) or period > QUARTER_HOUR or period.microseconds != 0:
        raise ValueError(f"sample interval {period} must be whole seconds in (0 s, 900 s]")


@dataclass(frozen=True)
class Offline:
    """The station is offline over ``[after, after + lasting)`` of the run.

    It keeps sampling and queues every message; when the window ends it sends the queue in
    order (late, but within the allowed lateness), then goes on as before.
    """

    after: timedelta
    lasting: timedelta


@dataclass(frozen=True)
class Misread:
    """The first periodic reading at or after ``after`` shows a wrong register value.

    Only a reading that carries nothing else (no session start, end or change) is misread,
    so the wrong value is the only register sent for that instant.
    """

    after: timedelta
    kind: MisreadKind = "zero"


@dataclass(frozen=True)
class GridDisturbance:
    """The grid off its band over ``[after, after + lasting)``, as the EVSE's meter reads it.

    ``frequency_hz``: the frequency it reads then (an EVSE that reports frequency reads
    50 Hz otherwise); ``voltage_l1_v``: its first phase's voltage then.
    """

    after: timedelta
    lasting: timedelta
    frequency_hz: float | None = None
    voltage_l1_v: float | None = None


def misread_wh(true_wh: int, kind: MisreadKind) -> int:
    """The wrong value a meter shows instead of ``true_wh``.

    >>> misread_wh(2_345_678, "zero")
    0
    >>> misread_wh(2_345_678, "digit")  # the 3 after the leading 2 reads as 0
    2045678
    >>> misread_wh(2_005_678, "digit")  # the first non-zero digit after the leading one
    2000678
    >>> misread_wh(2_345_678, "jump")  # the 3 reads as 9
    2945678
    """
    if kind == "zero":
        return 0
    digits = str(true_wh)
    keep, becomes = ("0", "0") if kind == "digit" else ("9", "9")
    for i in range(1, len(digits)):
        if digits[i] != keep:
            return int(digits[:i] + becomes + digits[i + 1 :])
    return 0 if kind == "digit" else int("9" * (len(digits) + 1))


@dataclass(frozen=True)
class MeterReset:
    """At ``after`` the meter is replaced: its register restarts at ``new_import_wh``.

    The export register (V2X) restarts at 0. Readings after it stay below the ones before:
    a reset, not a misread.
    """

    after: timedelta
    new_import_wh: int = 0


@dataclass(frozen=True)
class Discharging:
    """A V2X discharge window within a ``Visit``: from ``after`` (run offset) for ``lasting``."""

    after: timedelta
    lasting: timedelta
    power_w: float
    min_soc_pct: float = 30.0


@dataclass(frozen=True)
class Visit:
    """An EV planned at a fixed time: plugged in ``[arrive_after, arrive_after + stay)``.

    ``reuse_transaction_id``: the session takes the transaction id of the EVSE's previous
    session (stations that restart their id counter; 2.x only, where the station picks it).
    ``ems_limit_w``: a local energy management system limits the session to this power
    for its first hour, and the station reports the limit (2.x NotifyChargingLimit, source
    EMS) but does not apply it: the EV draws what it would anyway (compliance shows it).
    """

    arrive_after: timedelta
    stay: timedelta
    ev_max_power_w: float
    soc_start_pct: float = 40.0
    soc_target_pct: float = 90.0
    capacity_wh: float = 77_000.0
    taper_from_pct: float = 90.0
    discharge: Discharging | None = None
    reuse_transaction_id: bool = False
    ems_limit_w: float | None = None
