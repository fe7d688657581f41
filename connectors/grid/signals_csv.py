"""Generic CSV of grid signals: whatever a DSO sends that has no connector of its own.

Capacity limits, congestion prices, connection demand prognoses, ...

The header names ``GridSignal`` fields. Required: ``kind``, ``scope_type``, ``scope_id``,
``interval_start`` (ISO 8601 with offset), ``resolution`` (ISO 8601 duration), ``value``,
``unit``. Optional: ``interval_end`` (default ``interval_start + resolution``; the interval
is half-open), ``source`` (default ``csv``), ``document_id`` (default the first 16 hex
digits of the file's SHA-256, so importing the same file twice names the same document),
``revision`` (default 0). A bad row is rejected alone (its line in the detail); a file
without the required columns is rejected whole. No I/O.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from connectors.grid.result import Parsed, Rejected, rejected
from gridstream.periods import fixed_duration
from gridstream.records import GridSignal

REQUIRED: Final = ("kind", "scope_type", "scope_id", "interval_start", "resolution", "value",
                   "unit")  # fmt: skip
OPTIONAL: Final = ("interval_end", "source", "document_id", "revision")


def looks_like(data: bytes) -> bool:
    """Whether the first line of ``data`` is a header naming the required columns."""
    header = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return set(REQUIRED) <= {c.strip() for c in header.split(",")}


def parse_signals_csv(data: bytes, received_at: datetime) -> Parsed:
    """Signals of a generic signals CSV (UTF-8); ``received_at`` stamped on each."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return rejected("malformed_document", f"signals CSV is not UTF-8: {exc}", "")
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or ()]
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        return rejected(
            "malformed_document",
            f"signals CSV: missing column(s) {', '.join(missing) or '-'}, unknown column(s) "
            f"{', '.join(unknown) or '-'}; required: {', '.join(REQUIRED)}; optional: "
            f"{', '.join(OPTIONAL)}",
            text[:2000],
        )
    document_id = hashlib.sha256(data).hexdigest()[:16]
    signals: list[GridSignal] = []
    problems: list[Rejected] = []
    for line, row in enumerate(reader, start=2):
        values: dict[str, Any] = {
            k.strip(): v.strip() for k, v in row.items() if k is not None and v and v.strip()
        }
        raw = ",".join(row.get(c) or "" for c in reader.fieldnames or ())
        resolution = fixed_duration(values.get("resolution", ""))
        if resolution is None:
            problems.append(Rejected(
                "bad_resolution",
                f"signals CSV, line {line}: resolution {values.get('resolution')!r} is not a "
                "fixed ISO 8601 duration (PT15M, PT1H, P1D)",
                raw,
            ))  # fmt: skip
            continue
        try:
            start = datetime.fromisoformat(values.get("interval_start", ""))
            if start.tzinfo is None:
                raise ValueError("interval_start must carry an offset (Z or +01:00)")
            values.setdefault("interval_end", start + resolution)
            values.setdefault("source", "csv")
            values.setdefault("document_id", document_id)
            values.setdefault("revision", 0)
            signals.append(GridSignal.model_validate(values | {"received_at": received_at}))
        except (ValidationError, ValueError) as exc:
            detail = (
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                if isinstance(exc, ValidationError)
                else str(exc)
            )
            problems.append(Rejected("bad_value", f"signals CSV, line {line}: {detail}", raw))
    return Parsed(tuple(signals), tuple(problems))
