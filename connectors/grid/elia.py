"""Elia (BE) Open Data imbalance prices to grid signals.

Records of the Opendatasoft API (``{"total_count", "results": [...]}``) or of a JSON export
(a plain list), datasets ``ods134``/``ods162`` (per quarter-hour) and ``ods133``/``ods161``
(per minute), GRID.md 2.2: ``datetime`` (ISO 8601 with offset), ``resolutioncode``
(``PT15M``, ``PT1M``), ``qualitystatus``, ``imbalanceprice`` (EUR/MWh; Elia publishes one
price for every BRP position: ``imbalance_price``). A record without a price gives no signal.

Scope: the Belgian control area (EIC ``10YBE----------2``). ``Validated`` records get
revision 1, others (``NotValidated``, ``DataIssue``) revision 0, so a validated price
replaces a provisional one in ``grid_signals``. The document id is ``elia:`` and the first
16 hex digits of the content's SHA-256. No I/O.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Final

from connectors.grid.result import Parsed, Rejected, rejected
from gridstream.periods import fixed_duration
from gridstream.records import GridSignal

SOURCE: Final = "elia"
CONTROL_AREA: Final = "10YBE----------2"


def looks_like(data: bytes) -> bool:
    """Whether ``data`` is probably Elia imbalance records (JSON with ``resolutioncode``)."""
    head = data[:4096].lstrip()
    return head[:1] in (b"{", b"[") and b'"resolutioncode"' in head


def parse_records(data: bytes, received_at: datetime) -> Parsed:
    """Signals of Elia imbalance records; a bad record is rejected alone."""
    raw = data.decode("utf-8", errors="replace")
    try:
        document = json.loads(data)
    except ValueError as exc:
        return rejected("malformed_document", f"Elia records: not JSON: {exc}", raw)
    records = document.get("results") if isinstance(document, dict) else document
    if not isinstance(records, list):
        return rejected("malformed_document", "Elia records: no 'results' list", raw[:2000])
    document_id = f"{SOURCE}:{hashlib.sha256(data).hexdigest()[:16]}"
    signals: list[GridSignal] = []
    problems: list[Rejected] = []
    for index, record in enumerate(records, start=1):
        try:
            signal = _signal(record, document_id, received_at)
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(
                Rejected("bad_value", f"Elia records, record {index}: {exc}", json.dumps(record))
            )
            continue
        if signal is not None:
            signals.append(signal)
    return Parsed(tuple(signals), tuple(problems))


def _signal(record: Any, document_id: str, received_at: datetime) -> GridSignal | None:
    if not isinstance(record, dict):
        raise TypeError("a record must be a JSON object")
    price = record.get("imbalanceprice")
    if price is None:
        return None
    start = datetime.fromisoformat(record["datetime"])
    if start.tzinfo is None:
        raise ValueError(f"datetime {record['datetime']!r} has no offset")
    resolution_text = record["resolutioncode"]
    resolution = fixed_duration(resolution_text)
    if resolution is None:
        raise ValueError(f"resolutioncode {resolution_text!r} is not a fixed ISO 8601 duration")
    return GridSignal(
        kind="imbalance_price",
        scope_type="control_area",
        scope_id=CONTROL_AREA,
        interval_start=start,
        interval_end=start + resolution,
        resolution=resolution_text,
        value=float(price),
        unit="EUR/MWh",
        source=SOURCE,
        document_id=document_id,
        revision=1 if record.get("qualitystatus") == "Validated" else 0,
        received_at=received_at,
    )
