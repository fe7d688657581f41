"""OCPP date-times in and out: any offset, 0 or more fraction digits -> aware UTC, and back.

OCPP 1.6 errata 3.10: receivers must handle fractional seconds and time-zone offsets;
stations send ``Z``, ``+01:00`` or ``+10:00`` and 0 to 6 (some 7) fraction digits
(PROTOCOLS.md §7).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from connectors.ocpp.context import InvalidPayload

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
