"""TenneT (NL) settlement prices to grid signals: imbalance prices and regulation state.

The retired tennet.org XML export ``<ImbalancePrice><Record>`` (GRID.md 2.1): per PTU of a
local day (``DATE``, ``PTU`` 1..96, 92 or 100 on DST days) ``TAKE_FROM_SYSTEM`` (the
shortage price, paid by a short BRP: ``imbalance_price_short``), ``FEED_INTO_SYSTEM`` (the
surplus price, for a long BRP: ``imbalance_price_long``) and ``REGULATION_STATE`` (-1, 0,
1, 2: ``regulation_state``, unit ``""``), in EUR/MWh. Empty and absent elements both occur
and mean "not published": no signal.

PTU *n* starts (n-1)·15 min after local midnight, counted in elapsed time (so in UTC): on the
day the clocks go back PTU 9 is 02:00 CEST and PTU 13 is 02:00 CET. The day is local to
the Netherlands by definition of the format (Europe/Amsterdam). Scope: the Dutch control
area (EIC ``10YNL----------L``). The export has no document id: ``tennet:<date>``,
revision 0. No I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from connectors.grid.result import Parsed, Rejected, rejected
from gridstream.periods import QUARTER_HOUR
from gridstream.records import GridSignal, GridSignalKind

SOURCE: Final = "tennet"
CONTROL_AREA: Final = "10YNL----------L"
#: The export's days and PTUs are Dutch local time (a fact of the format, not a default).
ZONE: Final = ZoneInfo("Europe/Amsterdam")
_FIELDS: Final[tuple[tuple[str, GridSignalKind, str], ...]] = (
    ("TAKE_FROM_SYSTEM", "imbalance_price_short", "EUR/MWh"),
    ("FEED_INTO_SYSTEM", "imbalance_price_long", "EUR/MWh"),
    ("REGULATION_STATE", "regulation_state", ""),
)
_STATES: Final = frozenset({-1.0, 0.0, 1.0, 2.0})


def looks_like(data: bytes) -> bool:
    """Whether ``data`` is probably a TenneT ``ImbalancePrice`` export."""
    return b"<ImbalancePrice" in data[:1024]


def ptu_start(day: datetime, ptu: int) -> datetime:
    """UTC start of PTU ``ptu`` (1-based) of the local day starting at ``day`` (local midnight).

    >>> fall_back = datetime(2024, 10, 27, tzinfo=ZONE)  # 25 hours long
    >>> ptu_start(fall_back, 1).isoformat(), ptu_start(fall_back, 100).isoformat()
    ('2024-10-26T22:00:00+00:00', '2024-10-27T22:45:00+00:00')
    """
    return day.astimezone(UTC) + (ptu - 1) * QUARTER_HOUR


def ptus_of(day: datetime) -> int:
    """How many PTUs the local day starting at ``day`` (local midnight) has: 92, 96 or 100.

    >>> ptus_of(datetime(2024, 3, 31, tzinfo=ZONE)), ptus_of(datetime(2024, 10, 27, tzinfo=ZONE))
    (92, 100)
    """
    end = datetime.combine(day.date() + timedelta(days=1), day.timetz())
    return (end.astimezone(UTC) - day.astimezone(UTC)) // QUARTER_HOUR


def parse_imbalance_xml(data: bytes, received_at: datetime) -> Parsed:
    """Signals of a TenneT ``ImbalancePrice`` XML export; a bad record is rejected alone."""
    raw = data.decode("utf-8", errors="replace")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return rejected("malformed_document", f"TenneT export: not well-formed XML: {exc}", raw)
    if root.tag != "ImbalancePrice":
        return rejected("unknown_format", f"TenneT export: root {root.tag!r}", raw[:2000])
    signals: list[GridSignal] = []
    problems: list[Rejected] = []
    for index, record in enumerate(root.iter("Record"), start=1):
        values = {child.tag: (child.text or "").strip() for child in record}
        where = f"TenneT export, Record {index}"
        try:
            day = datetime.fromisoformat(values.get("DATE", "")).date()
            midnight = datetime(day.year, day.month, day.day, tzinfo=ZONE)
            ptu = int(values.get("PTU", ""))
            if not 1 <= ptu <= (ptus := ptus_of(midnight)):
                raise ValueError(f"PTU {ptu} outside 1..{ptus} of {day}")
            start = ptu_start(midnight, ptu)
            found: list[GridSignal] = []  # all of a record, or none of it
            for name, kind, unit in _FIELDS:
                text = values.get(name, "")
                if not text:
                    continue
                value = float(text)
                if kind == "regulation_state" and value not in _STATES:
                    raise ValueError(f"REGULATION_STATE {text!r} is not -1, 0, 1 or 2")
                found.append(
                    GridSignal(
                        kind=kind,
                        scope_type="control_area",
                        scope_id=CONTROL_AREA,
                        interval_start=start,
                        interval_end=start + QUARTER_HOUR,
                        resolution="PT15M",
                        value=value,
                        unit=unit,
                        source=SOURCE,
                        document_id=f"{SOURCE}:{day.isoformat()}",
                        revision=0,
                        received_at=received_at,
                    )
                )
            signals.extend(found)
        except ValueError as exc:
            problems.append(
                Rejected("bad_value", f"{where}: {exc}", ET.tostring(record, "unicode"))
            )
    return Parsed(tuple(signals), tuple(problems))
