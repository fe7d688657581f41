"""A site's own meter: Belgian/Dutch P1 (DSMR) telegrams to grid signals.

A telegram is read with dsmr-parser (``BELGIUM_FLUVIUS`` specification: e-MUCS 1.7.1; its
CRC is checked), which turns the meter's local times (``S`` summer / ``W`` winter) into
UTC. A telegram does not name its grid connection, so the caller says which site it is
(``scope_id``). Signals, for scope ``site`` (GRID.md 4.1):

- ``current_average_demand`` (``1-0:1.4.0``): the running average import power of the
  quarter-hour in progress, W, for that quarter-hour;
- ``monthly_peak_demand`` (``1-0:1.6.0``): the highest quarter-hour import power of the
  running month so far, W, for that month (``P1M``, months in Belgian local time);
- ``monthly_peak_demand`` of each month in ``0-0:98.1.0`` (the meter's peak history), for
  the month that ends at the entry's month stamp.

Every signal's revision is the telegram time in seconds since the epoch, so a later
telegram's figures replace an earlier one's (the running average and the month's peak
grow during the period); the document id is ``p1:<equipment id>:<telegram time>``.
Voltages and powers per phase are not signals (a signal carries no phase). No I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import ParseError
from dsmr_parser.parsers import TelegramParser

from connectors.grid.result import Parsed, rejected
from gridstream.periods import QUARTER_HOUR, quarter_hour_start
from gridstream.records import GridSignal, GridSignalKind

SOURCE: Final = "p1"
#: e-MUCS months and the meter's S/W times are Belgian local time (a fact of the format).
ZONE: Final = ZoneInfo("Europe/Brussels")
_PARSER: Final = TelegramParser(telegram_specifications.BELGIUM_FLUVIUS)


def looks_like(data: bytes) -> bool:
    """Whether ``data`` is probably a DSMR telegram (``/XXX5`` header, ``!CRC`` end)."""
    text = data.lstrip()
    return text[:1] == b"/" and b"\n!" in data[-16:] + b"\n"


def month_of(ts: datetime) -> tuple[datetime, datetime]:
    """The Belgian calendar month containing ``ts``, as a UTC half-open interval.

    >>> start, end = month_of(datetime(2020, 5, 12, 11, 54, tzinfo=UTC))
    >>> start.isoformat(), end.isoformat()
    ('2020-04-30T22:00:00+00:00', '2020-05-31T22:00:00+00:00')
    """
    local = ts.astimezone(ZONE)
    start = datetime(local.year, local.month, 1, tzinfo=ZONE)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return start.astimezone(UTC), datetime(year, month, 1, tzinfo=ZONE).astimezone(UTC)


_TELEGRAM = re.compile(rb"/[^\r\n]*\r?\n.*?![0-9A-Fa-f]{4}", re.DOTALL)


def parse_telegrams(data: bytes, received_at: datetime, scope_id: str) -> Parsed:
    """Signals of every telegram in ``data`` (one, or a feed logged one after another).

    Text that is no telegram at all is one ``malformed_document`` rejection.
    """
    found = _TELEGRAM.findall(data)
    if not found:
        return rejected(
            "malformed_document",
            "P1: no telegram (from '/' to '!' and a 4-digit CRC) in the input",
            data.decode("ascii", errors="replace")[:2000],
        )
    out = Parsed()
    for telegram in found:
        out += parse_telegram(telegram + b"\r\n", received_at, scope_id)
    return out


def _watts(kilowatts: Any) -> float:
    return float(Decimal(kilowatts) * 1000)


def parse_telegram(data: bytes, received_at: datetime, scope_id: str) -> Parsed:
    """Signals of one P1 telegram of site ``scope_id``; a bad telegram is one rejection."""
    text = data.decode("ascii", errors="replace")
    try:
        telegram = _PARSER.parse(text, throw_ex=True)
        at: datetime = telegram.P1_MESSAGE_TIMESTAMP.value
        meter = telegram.BELGIUM_EQUIPMENT_IDENTIFIER.value
        average = telegram.BELGIUM_CURRENT_AVERAGE_DEMAND.value
        peak = telegram.BELGIUM_MAXIMUM_DEMAND_MONTH.value
        history = list(getattr(telegram, "BELGIUM_MAXIMUM_DEMAND_13_MONTHS", None) or [])
    except (ParseError, AttributeError, ValueError, TypeError) as exc:
        return rejected("malformed_document", f"P1 telegram: {exc}", text)
    revision = int(at.timestamp())
    document_id = f"{SOURCE}:{meter}:{at.isoformat()}"

    def signal(kind: GridSignalKind, start: datetime, end: datetime, resolution: str,
               kilowatts: Any) -> GridSignal:  # fmt: skip
        return GridSignal(
            kind=kind,
            scope_type="site",
            scope_id=scope_id,
            interval_start=start,
            interval_end=end,
            resolution=resolution,
            value=_watts(kilowatts),
            unit="W",
            source=SOURCE,
            document_id=document_id,
            revision=revision,
            received_at=received_at,
        )

    quarter = quarter_hour_start(at)
    signals = [
        signal("current_average_demand", quarter, quarter + QUARTER_HOUR, "PT15M", average),
        signal("monthly_peak_demand", *month_of(at), "P1M", peak),
    ]
    for entry in history:  # the month stamp is the end of the month it covers
        month_end: datetime = entry.datetime
        start, end = month_of(month_end - QUARTER_HOUR)
        if end != month_end:
            continue  # a month without data (stamp 632525252525W) or a stamp mid-month
        signals.append(signal("monthly_peak_demand", start, end, "P1M", entry.value))
    return Parsed(tuple(signals))
