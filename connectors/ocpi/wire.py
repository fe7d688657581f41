"""OCPI on the wire: the response envelope, DateTime, numbers, and parse results.

Parsing returns values (STYLE.md rule 17): ``Accepted(records, data)`` or
``Rejected(reason_code, detail)``; the HTTP shell answers the partner with the reason's
OCPI status code and HTTP status (``gridstream.errors.REASONS``) and dead-letters the raw
body. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from gridstream.errors import reason
from gridstream.records import Record

#: OCPI 2.2.1 status codes (status_codes.asciidoc) used by this receiver.
SUCCESS: Final = 1000

OcpiVersion = Literal["2.2.1", "2.3.0"]
"""The OCPI versions whose receiver interfaces gridstream implements (3.0 is a draft)."""

VERSIONS: Final[tuple[OcpiVersion, ...]] = ("2.2.1", "2.3.0")


@dataclass(frozen=True)
class Accepted:
    """A request gridstream takes: ``records`` to publish, then ``data`` to answer."""

    records: tuple[Record, ...] = ()
    data: Any = None
    #: Why nothing changed although the request was fine (a stale PATCH), for the log.
    note: str | None = None


@dataclass(frozen=True)
class Rejected:
    """A request gridstream refuses, with a catalogue reason (``gridstream.errors``)."""

    reason_code: str
    detail: str

    @property
    def ocpi_status(self) -> int:
        """The OCPI status code of the reason."""
        return reason(self.reason_code).ocpi_status

    @property
    def http_status(self) -> int:
        """The HTTP status of the reason."""
        return reason(self.reason_code).http_status


Result = Accepted | Rejected


class WireError(ValueError):
    """A field of an OCPI object cannot be read; the message names it."""


def envelope(
    data: Any, status_code: int, now: datetime, message: str | None = None
) -> dict[str, Any]:
    """The OCPI response envelope (transport_and_format: every response carries one).

    >>> envelope([], 1000, datetime(2026, 12, 3, 8, 0, tzinfo=UTC))
    {'data': [], 'status_code': 1000, 'timestamp': '2026-12-03T08:00:00Z'}
    """
    out: dict[str, Any] = {}
    if data is not None:
        out["data"] = data
    out["status_code"] = status_code
    if message is not None:
        out["status_message"] = message
    out["timestamp"] = format_datetime(now)
    return out


def format_datetime(value: datetime) -> str:
    """OCPI DateTime: RFC 3339 in UTC with ``Z``, whole seconds unless it has a fraction."""
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse_datetime(value: object, where: str) -> datetime:
    """Read an OCPI DateTime: RFC 3339, UTC; no designator means UTC (types.asciidoc).

    >>> parse_datetime("2015-06-29T22:39:09", "start_date_time").isoformat()
    '2015-06-29T22:39:09+00:00'
    >>> parse_datetime("2015-06-29T22:39:09.5+02:00", "x").isoformat()
    '2015-06-29T20:39:09.500000+00:00'
    """
    if not isinstance(value, str):
        raise WireError(f"{where}: expected an RFC 3339 DateTime string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise WireError(f"{where}: {value!r} is not an RFC 3339 DateTime") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def number(value: object, where: str) -> float:
    """A JSON number (not a bool, not a string), as float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError(f"{where}: expected a number, got {value!r}")
    return float(value)


def string(obj: Mapping[str, Any], key: str, where: str, *, max_len: int = 255) -> str:
    """A required non-empty string field ``key`` of ``obj`` (at most ``max_len`` chars)."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WireError(f"{where}.{key}: required string missing or empty, got {value!r}")
    if len(value) > max_len:
        raise WireError(f"{where}.{key}: longer than {max_len} characters")
    return value


def optional_string(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    """An optional string field ``key`` of ``obj`` (absent or null: None)."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(f"{where}.{key}: expected a string, got {value!r}")
    return value


def objects(value: object, where: str) -> Sequence[Mapping[str, Any]]:
    """A JSON array of objects (absent or null: empty)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise WireError(f"{where}: expected an array of objects")
    return value


@dataclass(frozen=True)
class PartyRef:
    """Who an object belongs to: an OCPI party (country code and party id)."""

    country_code: str
    party_id: str

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id}"
