"""Meter readings of a pilot from files, as canonical ``MeterSample`` records.

Three shapes, each a format of ``gridstream backfill``:

- ``csv``: one reading per row. Required columns ``ts`` (ISO 8601 with offset),
  ``station_id``, ``measurand`` (OCPP names: ``Energy.Active.Import.Register``,
  ``Power.Active.Import``, ...), ``value`` and ``unit`` (as the meter said: ``kWh``, ``Wh``,
  ``kW``, ``W``, ... converted to the canonical unit); optional ``evse_id``,
  ``connector_id``, ``transaction_id``, ``phase``, ``location``, ``context`` and ``site_id``
  (default: the registry's site of the station). Consecutive rows of one station, EVSE,
  transaction and instant make one sample.
- ``ndjson``: one canonical ``MeterSample`` per line, as the ``meter.samples`` topic holds
  them (another gridstream's topic dump, say).
- ``parquet``: rows with the ``meter.samples`` columns, as gridstream's warehouse writes
  them (columns starting with ``_`` are the warehouse's own and are left out).

A row or line that cannot be read is rejected with its number and reason; the rest is
kept. Samples are stamped ``source="backfill"`` where the file does not say. No I/O beyond
what the caller hands in (bytes, or a Parquet table).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Final

import pyarrow as pa
from pydantic import ValidationError

from connectors.grid.result import Rejected
from gridstream.records import MeterSample, Reading
from gridstream.units import to_canonical

REQUIRED: Final = ("ts", "station_id", "measurand", "value", "unit")
OPTIONAL: Final = (
    "evse_id", "connector_id", "transaction_id", "phase", "location", "context", "site_id",
)  # fmt: skip
_SAMPLE_KEYS: Final = ("ts", "station_id", "evse_id", "connector_id", "transaction_id", "site_id")

Read = tuple[list[MeterSample], list[Rejected]]


def readings_csv(
    data: bytes, site_of: Callable[[str], str], received_at: datetime, name: str = "CSV"
) -> Read:
    """The samples of a readings CSV (module docstring); rows that cannot be read rejected."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [Rejected("malformed_document", f"{name}: not UTF-8: {exc}", "")]
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or ()]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        return [], [Rejected(
            "malformed_document",
            f"{name}: missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}; "
            f"optional: {', '.join(OPTIONAL)}",
            text[:2000],
        )]  # fmt: skip
    samples: list[MeterSample] = []
    rejected: list[Rejected] = []
    key: tuple[Any, ...] | None = None
    head: dict[str, Any] = {}
    readings: list[Reading] = []

    def close() -> None:
        if readings:
            samples.append(MeterSample(**head, readings=tuple(readings), source="backfill",
                                       received_at=received_at))  # fmt: skip

    for line, row in enumerate(reader, start=2):
        values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        try:
            fields = _sample_fields(values, site_of)
            value, unit = to_canonical(float(values["value"]), values["unit"])
            reading = Reading(
                measurand=values["measurand"], value=value, unit=unit,
                phase=values.get("phase") or None, location=values.get("location") or None,
                context=values.get("context") or None,
            )  # fmt: skip
        except (ValueError, KeyError, ValidationError) as exc:
            raw = ",".join(row.get(c) or "" for c in reader.fieldnames or ())
            rejected.append(Rejected("bad_value", f"{name}, line {line}: {_short(exc)}", raw))
            continue
        row_key = tuple(fields.get(k) for k in _SAMPLE_KEYS)
        if row_key != key:
            close()
            key, head, readings = row_key, fields, []
        readings.append(reading)
    close()
    return samples, rejected


def _sample_fields(values: dict[str, str], site_of: Callable[[str], str]) -> dict[str, Any]:
    ts = datetime.fromisoformat(values["ts"].replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"ts {values['ts']!r} has no offset")
    station = values["station_id"]
    if not station:
        raise ValueError("station_id is empty")
    return {
        "ts": ts,
        "station_id": station,
        "site_id": values.get("site_id") or site_of(station),
        "evse_id": int(values["evse_id"]) if values.get("evse_id") else None,
        "connector_id": int(values["connector_id"]) if values.get("connector_id") else None,
        "transaction_id": values.get("transaction_id") or None,
    }


def samples_ndjson(data: bytes, name: str = "NDJSON") -> Read:
    """One canonical ``MeterSample`` per line; lines that are none rejected."""
    samples: list[MeterSample] = []
    rejected: list[Rejected] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            samples.append(MeterSample.from_json(line))
        except (ValidationError, ValueError) as exc:
            raw = line.decode("utf-8", errors="replace")
            rejected.append(Rejected("malformed_document", f"{name}, line {number}: "
                                     f"not a meter sample: {_short(exc)}", raw))  # fmt: skip
    return samples, rejected


def samples_parquet(table: pa.Table, name: str = "Parquet") -> Read:
    """The rows of a ``meter.samples`` Parquet table as samples; rows that are none rejected."""
    samples: list[MeterSample] = []
    rejected: list[Rejected] = []
    for number, row in enumerate(_rows(table), start=1):
        fields = {k: v for k, v in row.items() if not k.startswith("_")}
        try:
            samples.append(MeterSample.model_validate(fields))
        except ValidationError as exc:
            detail = f"{name}, row {number}: not a meter sample: {_short(exc)}"
            rejected.append(Rejected("malformed_document", detail, str(fields)[:2000]))
    return samples, rejected


def _rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    for batch in table.to_batches(max_chunksize=10_000):
        yield from batch.to_pylist()


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc)
