"""OCPP date-times in and out: any offset, 0 or more fraction digits -> aware UTC, and back.

OCPP 1.6 errata 3.10: receivers must handle fractional seconds and time-zone offsets;
stations send ``Z``, ``+01:00`` or ``+10:00`` and 0 to 6 (some 7) fraction digits
(PROTOCOLS.md §7).

A station's clock can also be wrong, and ``station_times`` says which sample times to
trust (the rules are in its docstring): one further ahead of the receive time than
``MAX_CLOCK_SKEW``, one before ``EARLIEST_STATION_TIME`` (a clock that was never set),
or none at all is replaced; every other time, however old, is the station's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from connectors.ocpp.context import InvalidPayload

MAX_CLOCK_SKEW: Final = timedelta(minutes=15)
"""How far ahead of the receive time a station's clock may be and still be believed.

One settlement period: a clock that far ahead moves a reading at most into the next
quarter-hour, and clocks drift (stations set theirs from the BootNotification and
Heartbeat answers, or by NTP, at intervals). A reading further ahead would land in a
quarter-hour that has not begun, and lateness is judged from a meter's newest reading, so
one such reading would make the meter's true readings too late for hours.
"""

EARLIEST_STATION_TIME: Final = datetime(2015, 1, 1, tzinfo=UTC)
"""Sample times before this are a clock that was never set, not a reading's time.

OCPP-J 1.6, the oldest version this connector speaks, was published in 2015, so no station
talking to it read a meter before; a station that lost its real-time clock counts from its
own epoch (1970-01-01, the RTC's 2000-01-01, GPS's 1980-01-06) after a power cut.
"""

_DATETIME: Final = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?:[.,](?P<frac>\d+))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:?\d{2})?"
)


def parse_timestamp(text: object, field: str) -> datetime:
    """Parse an OCPP date-time into an aware UTC ``datetime``.

    Fractions beyond microseconds are truncated (7-digit .NET fractions). A timestamp
    without offset is taken as UTC, as OCPI does: OCPP requires an offset, and treating a
    missing one as local time would need a zone nobody told us. Anything unreadable raises
    ``InvalidPayload("bad_value", ...)`` naming ``field``.

    >>> parse_timestamp("2023-05-05T12:00:00+01:00", "timestamp").isoformat()
    '2023-05-05T11:00:00+00:00'
    >>> parse_timestamp("2023-09-18T08:25:40.20Z", "timestamp").isoformat()
    '2023-09-18T08:25:40.200000+00:00'
    """
    match = _DATETIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidPayload("bad_value", f"{field}: {text!r} is not an ISO 8601 date-time")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    zone = UTC
    if match["tz"] and match["tz"] not in ("Z", "z"):
        sign = -1 if match["tz"][0] == "-" else 1
        digits = match["tz"][1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        try:
            zone = timezone(sign * offset)
        except ValueError:
            raise InvalidPayload("bad_value", f"{field}: offset out of range in {text!r}") from None
    try:
        local = datetime.fromisoformat(
            f"{match['date']}T{match['h']}:{match['m']}:{match['s']}.{frac}"
        ).replace(tzinfo=zone)
    except ValueError:
        raise InvalidPayload("bad_value", f"{field}: {text!r} is not a valid date-time") from None
    return local.astimezone(UTC)


def format_timestamp(ts: datetime) -> str:
    """An aware datetime as OCPP ``currentTime``: UTC, milliseconds, ``Z``.

    >>> format_timestamp(datetime(2026, 1, 15, 18, 0, tzinfo=UTC))
    '2026-01-15T18:00:00.000Z'
    """
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _station_text(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def station_times(
    times: Sequence[datetime | None], now: datetime
) -> list[tuple[datetime, str | None]]:
    """The time to use for each of one message's sample times, and what the station said.

    ``times`` are the message's sample times in order (None: the station sent an empty
    timestamp), ``now`` the receive time. Each result is ``(ts, station_ts)``:
    ``station_ts`` None when ``ts`` is the station's own time, else what the station said
    (ISO 8601 UTC, ``""`` for an empty timestamp), for audit.

    - A time at most ``MAX_CLOCK_SKEW`` ahead of ``now`` and not before
      ``EARLIEST_STATION_TIME`` is kept, however far in the past: offline batches are sent
      late on purpose, and how late is too late is the computation's judgement.
    - Times further ahead, and times before ``EARLIEST_STATION_TIME`` (an unset clock), are
      shifted, each kind by one offset, so that the newest of them is ``now``: the station
      sends a reading when it takes it, and the entries of one message keep their order
      and spacing (a wrong clock still counts seconds), instead of collapsing into one
      instant.
    - An empty timestamp becomes ``now``.

    >>> now = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
    >>> unset = [datetime(1970, 1, 1, 0, 4, tzinfo=UTC), datetime(1970, 1, 1, 0, 5, tzinfo=UTC)]
    >>> for ts, said in station_times(unset, now):
    ...     print(ts.isoformat(), said)
    2026-01-15T17:59:05+00:00 1970-01-01T00:04:00Z
    2026-01-15T18:00:05+00:00 1970-01-01T00:05:00Z
    """
    ahead_after = now + MAX_CLOCK_SKEW
    newest_unset: datetime | None = None
    newest_ahead: datetime | None = None
    for ts in times:
        if ts is None:
            continue
        if ts < EARLIEST_STATION_TIME:
            if newest_unset is None or ts > newest_unset:
                newest_unset = ts
        elif ts > ahead_after and (newest_ahead is None or ts > newest_ahead):
            newest_ahead = ts
    if newest_unset is None and newest_ahead is None and None not in times:
        return [(ts, None) for ts in times if ts is not None]
    out: list[tuple[datetime, str | None]] = []
    for ts in times:
        if ts is None:
            out.append((now, ""))
        elif newest_unset is not None and ts < EARLIEST_STATION_TIME:
            out.append((ts + (now - newest_unset), _station_text(ts)))
        elif newest_ahead is not None and ts > ahead_after:
            out.append((ts + (now - newest_ahead), _station_text(ts)))
        else:
            out.append((ts, None))
    return out


def event_time(ts: datetime, now: datetime) -> tuple[datetime, str | None]:
    """``station_times`` for a message's one event time (a session's start, stop, event).

    >>> now = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
    >>> event_time(datetime(2026, 1, 15, 19, 0, tzinfo=UTC), now)[1]
    '2026-01-15T19:00:00Z'
    """
    return station_times([ts], now)[0]
