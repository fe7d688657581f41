"""Settlement periods and calendar periods.

Settlement periods (ISPs) are the 15-minute intervals ``[start, start + 15 min)`` aligned on
the hour in UTC, keyed by their start. Calendar periods (day, month) follow the site's own
time zone, passed in as a ``ZoneInfo``: nothing here reads a clock or a default zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

QUARTER_HOUR = timedelta(minutes=15)
QUARTER_HOUR_MS = 15 * 60 * 1000
"""The same in epoch milliseconds, as the computations count time."""
QUARTER_HOUR_H = 0.25


def quarter_hour_start(ts: datetime) -> datetime:
    """Start of the settlement period containing ``ts`` (aware), in UTC.

    >>> quarter_hour_start(datetime(2026, 1, 15, 10, 7, 30, tzinfo=UTC))
    datetime.datetime(2026, 1, 15, 10, 0, tzinfo=datetime.timezone.utc)
    """
    utc = ts.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def ceil_quarter_hour(ts: datetime) -> datetime:
    """The first quarter-hour boundary at or after ``ts`` (UTC).

    >>> ceil_quarter_hour(datetime(2026, 1, 15, 10, 0, 1, tzinfo=UTC)).isoformat()
    '2026-01-15T10:15:00+00:00'
    >>> ceil_quarter_hour(datetime(2026, 1, 15, 10, 15, tzinfo=UTC)).isoformat()
    '2026-01-15T10:15:00+00:00'
    """
    floor = quarter_hour_start(ts)
    return floor if floor == ts else floor + QUARTER_HOUR


def quarter_hours(start: datetime, end: datetime) -> list[datetime]:
    """Starts of the settlement periods that overlap ``[start, end)``."""
    out: list[datetime] = []
    t = quarter_hour_start(start)
    while t < end:
        out.append(t)
        t += QUARTER_HOUR
    return out


def month_of(ts: datetime, zone: ZoneInfo) -> str:
    """The calendar month (``YYYY-MM``) of ``ts`` in the site's time zone.

    >>> month_of(datetime(2026, 1, 31, 23, 30, tzinfo=UTC), ZoneInfo("Europe/Brussels"))
    '2026-02'
    """
    local = ts.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def to_epoch_ms(ts: datetime) -> int:
    """Integer epoch milliseconds, for hot loops only."""
    return int(ts.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    """Aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# Zero years and months are accepted (a VTN writes P0Y0M0DT1H0M0S); any other is calendar.
_FIXED_DURATION = re.compile(
    r"^P(?:0+Y)?(?:0+M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def fixed_duration(text: str) -> timedelta | None:
    """The ``timedelta`` of an ISO 8601 duration of fixed length, or None.

    Fixed lengths are days, hours, minutes and seconds; calendar durations (``P1M``,
    ``P1Y``) have none, and an empty or zero duration is no resolution: None.

    >>> fixed_duration("PT15M"), fixed_duration("PT1H")
    (datetime.timedelta(seconds=900), datetime.timedelta(seconds=3600))
    >>> fixed_duration("P1D"), fixed_duration("P1M"), fixed_duration("PT"), fixed_duration("PT0M")
    (datetime.timedelta(days=1), None, None, None)
    >>> fixed_duration("P0Y0M0DT1H0M0S"), fixed_duration("P9999Y")
    (datetime.timedelta(seconds=3600), None)
    """
    match = _FIXED_DURATION.match(text.strip())
    if match is None or not any(match.groupdict().values()):
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    duration = timedelta(**parts)
    return duration if duration > timedelta(0) else None


def iso_duration(duration: timedelta) -> str:
    """ISO 8601 text of a positive ``duration`` (days, hours, minutes, whole seconds).

    >>> iso_duration(timedelta(minutes=15)), iso_duration(timedelta(days=1, minutes=90))
    ('PT15M', 'P1DT1H30M')
    """
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
