"""OpenADR 3 (3.0.1 and 3.1.0) events to grid signals.

An event (GRID.md 3.1) has ``intervals``, each with ``payloads`` (``{"type", "values"}``)
and an optional ``intervalPeriod``; the event's ``intervalPeriod`` is the default of every
interval. The first interval starts at its own or the event's ``start``; an interval
without a ``start`` follows the previous one (its start + duration); a ``start`` of
``0001-01-01`` means "now" (the receive time). Durations must be of fixed length
(``P9999Y``, "until further notice", is refused: a signal needs an end).

Payload types to signal kinds, units from the payload descriptors (event, else program):

    IMPORT_CAPACITY_LIMIT   import_capacity_limit   KW/W/MW -> W
    EXPORT_CAPACITY_LIMIT   export_capacity_limit   KW/W/MW -> W
    DISPATCH_SETPOINT       dispatch_setpoint       KW/W/MW -> W
    PRICE                   energy_price            "<currency>/<units>" as published
    EXPORT_PRICE            feed_in_tariff          "<currency>/<units>" as published
    ALERT_*                 grid_alert              1 while the alert holds, unit ""

A ``PRICE`` or ``EXPORT_PRICE`` payload with n values splits its interval into n equal
sub-intervals (3.1). Another payload type is an ``unmapped_payload`` rejection (once per
event and type): kept for review, never silently dropped.

Scopes come from the targets: a 3.1 target string of 18 digits (an EAN, as the Dutch GAC
profile requires) is a site; 3.0.1 ``POWER_SERVICE_LOCATION`` values are sites and
``GROUP`` values connection groups (``VEN_NAME`` and ``RESOURCE_NAME`` address, they do
not scope). An event without a scope applies to ``default_site`` (the site the VEN is for);
without one either it is an ``unknown_area`` rejection. The event id is the document id
(``eventName`` for an event in create form), its ``modificationDateTime`` in seconds since
the epoch the revision (0 when absent or not RFC 3339, as in the spec's own examples).
No I/O, no clock: ``received_at`` is also "now".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from connectors.grid.result import Parsed, Rejected, Unreadable, rejected
from gridstream.periods import fixed_duration, iso_duration
from gridstream.records import GridSignal, GridSignalKind, ScopeType

SOURCE: Final = "openadr3"
_POWER: Final[dict[str, GridSignalKind]] = {
    "IMPORT_CAPACITY_LIMIT": "import_capacity_limit",
    "EXPORT_CAPACITY_LIMIT": "export_capacity_limit",
    "DISPATCH_SETPOINT": "dispatch_setpoint",
}
_PRICES: Final[dict[str, GridSignalKind]] = {
    "PRICE": "energy_price",
    "EXPORT_PRICE": "feed_in_tariff",
}
_WATTS_PER: Final = {"W": 1.0, "KW": 1_000.0, "MW": 1_000_000.0}
_ENERGY_UNITS: Final = {"KWH": "kWh", "MWH": "MWh", "WH": "Wh"}
_EAN = re.compile(r"^\d{18}$")
_NOW_DATES: Final = ("0001-01-01", "0001-01-01T00:00:00", "0001-01-01T00:00:00Z")


def looks_like(data: bytes) -> bool:
    """Whether ``data`` is probably OpenADR 3 JSON (an event or a list of them)."""
    head = data[:4096].lstrip()
    return head[:1] in (b"{", b"[") and b'"intervals"' in data and b'"programID"' in data


def parse_events(data: bytes, received_at: datetime, default_site: str | None = None) -> Parsed:
    """Signals of an event, or a list of events, as JSON (a VTN's ``/events`` answer)."""
    raw = data.decode("utf-8", errors="replace")
    try:
        document = json.loads(data)
    except ValueError as exc:
        return rejected("malformed_document", f"OpenADR 3: not JSON: {exc}", raw)
    events = document if isinstance(document, list) else [document]
    out = Parsed()
    for event in events:
        out += event_signals(event, received_at, default_site=default_site)
    return out


def event_signals(
    event: Any,
    received_at: datetime,
    *,
    default_site: str | None = None,
    program: Mapping[str, Any] | None = None,
) -> Parsed:
    """Signals of one OpenADR 3 event object; its program supplies default descriptors."""
    raw = json.dumps(event)
    if not isinstance(event, dict) or not isinstance(event.get("intervals"), list):
        return rejected("malformed_document", "OpenADR 3 event: no 'intervals' list", raw)
    name = str(event.get("id") or event.get("eventName") or "unnamed")
    where = f"OpenADR 3 event {name}"
    try:
        scopes = _scopes(event.get("targets"), default_site, where)
        descriptors = {
            d.get("payloadType"): d
            for source in (
                (program or {}).get("payloadDescriptors"),
                event.get("payloadDescriptors"),
            )
            for d in (source or [])
            if isinstance(d, dict)
        }
        slots = _interval_slots(event, received_at, where)
    except Unreadable as bad:
        return rejected(bad.code, bad.detail, raw)
    revision = _revision(event.get("modificationDateTime"))
    signals: list[GridSignal] = []
    problems: list[Rejected] = []
    unmapped: set[str] = set()
    for (start, duration), interval in zip(slots, event["intervals"], strict=True):
        for payload in interval.get("payloads") or []:
            kind_name = str(payload.get("type"))
            values = payload.get("values") or []
            try:
                found = _payload_signals(kind_name, values, descriptors.get(kind_name), start,
                                         duration, where)  # fmt: skip
            except Unreadable as bad:
                if bad.code == "unmapped_payload":
                    if kind_name not in unmapped:
                        unmapped.add(kind_name)
                        problems.append(Rejected(bad.code, bad.detail, raw))
                else:
                    problems.append(Rejected(bad.code, bad.detail, raw))
                continue
            for kind, value, unit, sub_start, sub_duration in found:
                signals.extend(
                    GridSignal(
                        kind=kind,
                        scope_type=scope_type,
                        scope_id=scope_id,
                        interval_start=sub_start,
                        interval_end=sub_start + sub_duration,
                        resolution=iso_duration(sub_duration),
                        value=value,
                        unit=unit,
                        source=SOURCE,
                        document_id=name,
                        revision=revision,
                        received_at=received_at,
                    )
                    for scope_type, scope_id in scopes
                )
    return Parsed(tuple(signals), tuple(problems))


def _scopes(targets: Any, default_site: str | None, where: str) -> list[tuple[ScopeType, str]]:
    scopes: list[tuple[ScopeType, str]] = []
    for target in targets or []:
        if isinstance(target, str):  # 3.1: plain strings
            if not _EAN.match(target):
                raise Unreadable("unknown_area", f"{where}: target {target!r} is not an EAN18 site")
            scopes.append(("site", target))
        elif isinstance(target, dict):  # 3.0.1: valuesMap
            kind = target.get("type")
            scope_type: ScopeType | None = (
                "site" if kind == "POWER_SERVICE_LOCATION"
                else "connection_group" if kind == "GROUP"
                else None
            )  # fmt: skip
            if scope_type is not None:
                scopes.extend((scope_type, str(v)) for v in target.get("values") or [])
    if not scopes:
        if default_site is None:
            raise Unreadable(
                "unknown_area", f"{where}: targets no site or group, and no site given"
            )
        scopes.append(("site", default_site))
    return scopes


def _time(text: Any, now: datetime, where: str) -> datetime:
    if not isinstance(text, str):
        raise Unreadable("malformed_document", f"{where}: start {text!r} is not a time")
    if text in _NOW_DATES:
        return now
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Unreadable("malformed_document", f"{where}: start {text!r} is not RFC 3339") from None
    if value.tzinfo is None:
        raise Unreadable("malformed_document", f"{where}: start {text!r} has no offset")
    return value.astimezone(UTC)


def _interval_slots(
    event: Mapping[str, Any], now: datetime, where: str
) -> list[tuple[datetime, timedelta]]:
    default = event.get("intervalPeriod") or {}
    out: list[tuple[datetime, timedelta]] = []
    for index, interval in enumerate(event["intervals"]):
        if not isinstance(interval, dict):
            raise Unreadable("malformed_document", f"{where}: interval {index} is not an object")
        own = interval.get("intervalPeriod") or {}
        start_text = own.get("start") or (default.get("start") if not out else None)
        if start_text is not None:
            start = _time(start_text, now, f"{where}, interval {interval.get('id', index)}")
        elif out:
            start = out[-1][0] + out[-1][1]
        else:
            raise Unreadable("malformed_document", f"{where}: the first interval has no start")
        duration_text = own.get("duration") or default.get("duration")
        duration = fixed_duration(str(duration_text)) if duration_text else None
        if duration is None:
            raise Unreadable(
                "bad_resolution",
                f"{where}, interval {interval.get('id', index)}: duration {duration_text!r} "
                "is not a fixed ISO 8601 duration",
            )
        out.append((start, duration))
    return out


def _payload_signals(
    kind_name: str,
    values: Sequence[Any],
    descriptor: Mapping[str, Any] | None,
    start: datetime,
    duration: timedelta,
    where: str,
) -> list[tuple[GridSignalKind, float, str, datetime, timedelta]]:
    units = str((descriptor or {}).get("units") or "")
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if kind_name.startswith("ALERT_"):
        return [("grid_alert", 1.0, "", start, duration)]
    if kind_name in _POWER:
        if len(numbers) != 1 or len(values) != 1:
            raise Unreadable("bad_value", f"{where}: {kind_name} needs one number, got {values!r}")
        factor = _WATTS_PER.get(units.upper() or "KW")
        if factor is None:
            raise Unreadable("unknown_unit", f"{where}: {kind_name} in {units!r}; known: W, KW, MW")
        return [(_POWER[kind_name], numbers[0] * factor, "W", start, duration)]
    if kind_name in _PRICES:
        if not numbers or len(numbers) != len(values):
            raise Unreadable("bad_value", f"{where}: {kind_name} values {values!r} are not numbers")
        currency = str((descriptor or {}).get("currency") or "")
        unit = f"{currency}/{_ENERGY_UNITS.get(units.upper(), units)}" if currency else units
        step = duration / len(numbers)  # 3.1: n values split the interval in n equal parts
        return [(_PRICES[kind_name], float(v), unit, start + i * step, step)
                for i, v in enumerate(numbers)]  # fmt: skip
    raise Unreadable(
        "unmapped_payload", f"{where}: payload type {kind_name} is not mapped to a signal"
    )


def _revision(text: Any) -> int:
    if not isinstance(text, str):
        return 0
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return int(value.timestamp()) if value.tzinfo is not None else 0
