"""ENTSO-E Transparency Platform documents (IEC 62325-451 XML) to grid signals.

Day-ahead prices (A44, ``Publication_MarketDocument``) and imbalance prices (A85,
``Balancing_MarketDocument``, also as a ZIP of such documents), GRID.md section 1:

- Elements are matched on their local names, so every namespace version (``7:0``,
  ``7:3``; ``3:0``, ``4:4``) reads the same.
- Every TimeSeries and every Period of it is laid out on its own (``curves.expand``):
  curveType A03 is forward-filled to the end of each Period, several TimeSeries (one per
  day, or overlapping ones of another ``classificationSequence`` position) stay apart.
- A44: scope is the TimeSeries' ``in_Domain`` (bidding zone, EIC); contract type ``A07`` is
  an intraday auction; a ``classificationSequence`` position other than 1 (not SDAC) gets
  the source ``entsoe/sequence=<n>`` so its prices never overwrite SDAC's.
- A85: scope is the document's ``area_Domain`` (control area, EIC); ``A04`` (excess balance)
  prices are ``imbalance_price_long``, ``A05`` (insufficient) ``imbalance_price_short``, no
  category ``imbalance_price``.
- Units are as published: ``<currency>/MWh`` (EUR, CZK, ...).
- ``revisionNumber`` is the signal's revision, ``mRID`` its document id.
- An ``Acknowledgement_MarketDocument`` (no data, or a refused request) is a rejection
  (``no_data`` for reason code 999), as is a document that cannot be read; a TimeSeries that
  cannot be laid out is rejected alone, the others are kept.

No I/O and no clock: ``parse_document`` takes the bytes and the receive time.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from xml.etree import ElementTree as ET

from connectors.grid.curves import CurveProblem, CurveType, expand
from connectors.grid.result import Parsed, Rejected, Unreadable, rejected
from gridstream.periods import fixed_duration
from gridstream.records import GridSignal, GridSignalKind, ScopeType

SOURCE: Final = "entsoe"
ZIP_MAGIC: Final = b"PK\x03\x04"
ROOTS: Final = frozenset(
    {"Publication_MarketDocument", "Balancing_MarketDocument", "Acknowledgement_MarketDocument"}
)
_EIC = re.compile(r"^[0-9A-Z][0-9A-Z-]{14}[0-9A-Z-]$")
_UNITS: Final = {"MWH": "MWh", "KWH": "kWh", "MAW": "MW"}
_IMBALANCE_KIND: Final[dict[str | None, GridSignalKind]] = {
    "A04": "imbalance_price_long",
    "A05": "imbalance_price_short",
    None: "imbalance_price",
}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    return (child for child in element if _local(child.tag) == name)


def _text(element: ET.Element, path: str, where: str) -> str:
    """The text at ``path`` (local names separated by ``/``); ``Unreadable`` when missing."""
    found = _optional(element, path)
    if found is None:
        raise Unreadable("malformed_document", f"{where}: no {path}")
    return found


def _optional(element: ET.Element, path: str) -> str | None:
    node: ET.Element | None = element
    for name in path.split("/"):
        node = _child(node, name) if node is not None else None
    if node is None or node.text is None or not node.text.strip():
        return None
    return node.text.strip()


def _time(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Unreadable("malformed_document", f"{where}: {text!r} is not a UTC time") from None
    if value.tzinfo is None:
        raise Unreadable("malformed_document", f"{where}: {text!r} has no time zone")
    return value.astimezone(UTC)


def _number(text: str, where: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        raise Unreadable("bad_value", f"{where}: {text!r} is not a number") from None


def _area(text: str, where: str) -> str:
    if not _EIC.match(text):
        raise Unreadable(
            "unknown_area", f"{where}: {text!r} is not an EIC area code (16 characters)"
        )
    return text


def parse_document(data: bytes, received_at: datetime) -> Parsed:
    """Signals of one ENTSO-E response body: an XML document, or a ZIP of them (A85).

    ``received_at`` (aware) is stamped on every signal. Never raises for bad input.
    """
    if data.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [(n, archive.read(n)) for n in sorted(archive.namelist())]
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            return rejected("malformed_document", f"ZIP archive cannot be read: {exc}", "")
        out = Parsed()
        for name, member in members:
            out += _parse_xml(member, received_at, f"{name}: ")
        return out
    return _parse_xml(data, received_at, "")


def _parse_xml(data: bytes, received_at: datetime, prefix: str) -> Parsed:
    raw = data.decode("utf-8", errors="replace")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return rejected("malformed_document", f"{prefix}not well-formed XML: {exc}", raw)
    kind = _local(root.tag)
    if kind == "Acknowledgement_MarketDocument":
        code = _optional(root, "Reason/code")
        text = _optional(root, "Reason/text") or ""
        return rejected(
            "no_data" if code == "999" else "malformed_document",
            f"{prefix}ENTSO-E acknowledgement, reason {code}: {text}",
            raw,
        )
    if kind not in ROOTS:
        return rejected(
            "unknown_format",
            f"{prefix}root element {kind!r} is not one of {', '.join(sorted(ROOTS))}",
            raw,
        )
    try:
        document_id = _text(root, "mRID", f"{prefix}{kind}")
        where = f"{prefix}{kind} {document_id}"
        revision_text = _text(root, "revisionNumber", where)
        if not revision_text.isdigit():
            raise Unreadable(
                "bad_value", f"{where}: revisionNumber {revision_text!r} is not a number"
            )
        area = (
            _area(_text(root, "area_Domain.mRID", where), f"{where}: area_Domain.mRID")
            if kind == "Balancing_MarketDocument"
            else None
        )
    except Unreadable as bad:
        return rejected(bad.code, bad.detail, raw)
    header = _Header(document_id, int(revision_text), area, received_at)
    out = Parsed()
    for index, series in enumerate(_children(root, "TimeSeries"), start=1):
        series_where = f"{where}, TimeSeries {_optional(series, 'mRID') or index}"
        try:
            out += Parsed(signals=tuple(_series_signals(series, header, series_where)))
        except Unreadable as bad:
            series_raw = ET.tostring(series, encoding="unicode")
            out += Parsed(rejected=(Rejected(bad.code, bad.detail, series_raw),))
    return out


@dataclass(frozen=True)
class _Header:
    """What every TimeSeries of a document shares."""

    document_id: str
    revision: int
    area: str | None
    received_at: datetime


def _series_signals(series: ET.Element, header: _Header, where: str) -> list[GridSignal]:
    currency = _text(series, "currency_Unit.name", where)
    measure = _text(series, "price_Measure_Unit.name", where)
    unit = f"{currency}/{_UNITS.get(measure, measure)}"
    curve = _optional(series, "curveType") or "A01"
    if curve not in ("A01", "A02", "A03"):
        raise Unreadable(
            "malformed_document", f"{where}: curveType {curve!r} is not A01, A02 or A03"
        )
    curve_type: CurveType = curve  # type: ignore[assignment]  # checked just above
    source = SOURCE
    scope_type: ScopeType
    if header.area is None:  # A44: the bidding zone of the series
        scope_type, scope = "bidding_zone", _area(_text(series, "in_Domain.mRID", where), where)
        contract = _optional(series, "contract_MarketAgreement.type")
        series_kind: GridSignalKind = (
            "intraday_auction_price" if contract == "A07" else "day_ahead_price"
        )
        sequence = _optional(series, "classificationSequence_AttributeInstanceComponent.position")
        if sequence not in (None, "1"):
            source = f"{SOURCE}/sequence={sequence}"
        value_name, category_name = "price.amount", None
    else:  # A85: the document's control area
        scope_type, scope = "control_area", header.area
        series_kind = "imbalance_price"
        value_name, category_name = "imbalance_Price.amount", "imbalance_Price.category"
    out: list[GridSignal] = []
    for period in _children(series, "Period"):
        start = _time(_text(period, "timeInterval/start", where), f"{where}: Period start")
        end = _time(_text(period, "timeInterval/end", where), f"{where}: Period end")
        resolution_text = _text(period, "resolution", where)
        resolution = fixed_duration(resolution_text)
        if resolution is None:
            raise Unreadable(
                "bad_resolution",
                f"{where}: resolution {resolution_text!r} is not a fixed ISO 8601 duration",
            )
        # Points by category (A85 may mix them); each category is its own curve.
        curves: dict[str | None, list[tuple[int, float]]] = {}
        for point in _children(period, "Point"):
            position_text = _text(point, "position", where)
            if not position_text.isdigit():
                raise Unreadable("malformed_document", f"{where}: position {position_text!r}")
            value = _number(_text(point, value_name, where), f"{where}: {value_name}")
            category = _optional(point, category_name) if category_name else None
            curves.setdefault(category, []).append((int(position_text), value))
        for category, points in curves.items():
            if category not in _IMBALANCE_KIND:
                raise Unreadable("bad_value", f"{where}: imbalance_Price.category {category!r}")
            kind = series_kind if category_name is None else _IMBALANCE_KIND[category]
            slots = expand(start, end, resolution, points, curve_type)
            if isinstance(slots, CurveProblem):
                raise Unreadable(slots.reason, f"{where}: {slots.detail}")
            out.extend(
                GridSignal(
                    kind=kind,
                    scope_type=scope_type,
                    scope_id=scope,
                    interval_start=slot.start,
                    interval_end=slot.end,
                    resolution=resolution_text,
                    value=slot.value,
                    unit=unit,
                    source=source,
                    document_id=header.document_id,
                    revision=header.revision,
                    received_at=header.received_at,
                )
                for slot in slots
            )
    return out


def looks_like(data: bytes) -> bool:
    """Whether ``data`` is probably an ENTSO-E document (or a ZIP of them)."""
    head = data[:2048]
    return data.startswith(ZIP_MAGIC) or any(r.encode() in head for r in ROOTS)
