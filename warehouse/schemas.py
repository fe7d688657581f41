"""Arrow schemas of the topics, derived once from the record models, and fast decoding.

Each topic's schema comes from its record model in ``gridstream.records`` (STYLE.md rule
15: declared once, never inferred at write time), so every file of a topic agrees::

    str -> string          int -> int64          float -> float64       bool -> bool
    datetime -> timestamp[us, tz=UTC]            X | None -> nullable X
    Literal["a", ...] -> string                  tuple[Model, ...] -> list<struct<...>>

The sink adds three columns to every row: ``_partition`` (int32), ``_offset`` (int64) and
``_epoch`` (string, the broker epoch; DESIGN.md, Embedded default and production).

``records_to_table`` decodes a batch of JSON values with Arrow's C++ JSON reader against
the declared schema, without a pydantic object per row: the producers validated the
records already, and the sink must keep up with tens of thousands of records per second.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
import pyarrow as pa
import pyarrow.json as pa_json
from pydantic import BaseModel

from gridstream import records, topics
from warehouse.errors import DecodeError

TIMESTAMP = pa.timestamp("us", tz="UTC")
"""Arrow type of every timestamp: microseconds, UTC."""

SINK_FIELDS: tuple[pa.Field, ...] = (
    pa.field("_partition", pa.int32(), nullable=False),
    pa.field("_offset", pa.int64(), nullable=False),
    pa.field("_epoch", pa.string(), nullable=False),
)
"""Columns the sink adds to every row: where in Kafka (and in which broker life) it was."""

EVENT_TIME_FIELDS: tuple[str, ...] = ("ts", "interval_start", "received_at")
"""Candidates for a record's event time, in order of preference (the ``date=`` partition)."""

_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    datetime: TIMESTAMP,
}

_LITERALS: dict[type, pa.DataType] = {str: pa.string(), int: pa.int64(), bool: pa.bool_()}

_BLOCK_SIZE = 16 << 20  # Arrow JSON reader block; 16 MiB measured fastest for 1-2 kB rows


def arrow_type(annotation: Any, where: str) -> tuple[pa.DataType, bool]:
    """The Arrow type of a model field's annotation and whether it is nullable.

    ``where`` names the field (``MeterSample.readings``) for the error message.

    >>> arrow_type(int | None, "X.y")
    (DataType(int64), True)
    """
    origin = get_origin(annotation)
    if origin is Annotated:
        return arrow_type(get_args(annotation)[0], where)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"{where}: a union other than X | None has no Arrow type")
        return arrow_type(members[0], where)[0], True
    if origin is Literal:
        kinds = {type(value) for value in get_args(annotation)}
        if len(kinds) == 1 and (kind := kinds.pop()) in _LITERALS:
            return _LITERALS[kind], False
        raise TypeError(f"{where}: Literal values must share one type (str, int or bool)")
    if origin in (tuple, list):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if len(args) != 1:
            raise TypeError(f"{where}: only homogeneous tuple[X, ...] or list[X] are supported")
        item_type, item_nullable = arrow_type(args[0], f"{where}[]")
        return pa.list_(pa.field("item", item_type, nullable=item_nullable)), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(_fields(annotation)), False
    if annotation in _SCALARS:
        return _SCALARS[annotation], False
    raise TypeError(
        f"{where}: no Arrow type for {annotation!r}; supported: str, int, float, bool, "
        "datetime, Literal, X | None, tuple[Model, ...]"
    )


def _fields(model: type[BaseModel]) -> list[pa.Field]:
    out = []
    for name, info in model.model_fields.items():
        data_type, nullable = arrow_type(info.annotation, f"{model.__name__}.{name}")
        out.append(pa.field(name, data_type, nullable=nullable))
    return out


@cache
def record_schema(model: type[records.Record]) -> pa.Schema:
    """The Arrow schema of a record model's fields, in declaration order (computed once)."""
    metadata = {
        "gridstream.record": model.__name__,
        "gridstream.schema_version": str(model.schema_version),
    }
    return pa.schema(_fields(model), metadata=metadata)


@cache
def topic_schema(topic: str) -> pa.Schema:
    """The schema of ``topic``'s Parquet files: the record's fields, then ``SINK_FIELDS``.

    Raises ``KeyError`` naming the known topics for an unknown one.
    """
    base = record_schema(topics.by_name(topic).record)
    return pa.schema([*base, *SINK_FIELDS], metadata=base.metadata)


@cache
def event_time_field(topic: str) -> str | None:
    """The field whose UTC date partitions ``topic``'s files, or None when undated.

    The first of ``EVENT_TIME_FIELDS`` that the record has as a required timestamp:
    ``ts`` for samples, transactions and charging needs, ``interval_start`` for
    quarter-hour load, peaks and grid signals, ``received_at`` for dead letters; the site registry
    has none (its files go to ``date=current``).
    """
    schema = record_schema(topics.by_name(topic).record)
    for name in EVENT_TIME_FIELDS:
        index = schema.get_field_index(name)
        if index < 0:
            continue
        candidate = schema.field(index)
        if candidate.type == TIMESTAMP and not candidate.nullable:
            return name
    return None


def _as_line(value: bytes | str | Mapping[str, Any]) -> bytes:
    if type(value) is bytes and value[:1] == b"{" and value[-1:] == b"}" and b"\n" not in value:
        return value  # the producers' compact JSON: the fast path
    if isinstance(value, str):
        value = value.encode()
    elif not isinstance(value, bytes):
        return orjson.dumps(value)
    # Pretty-printed or padded JSON is re-serialised onto one line.
    value = orjson.dumps(orjson.loads(value))
    # Arrow's JSON reader crashes the process on a top-level `null` (pyarrow 26): anything
    # but one JSON object is refused before it gets there.
    if value[:1] != b"{":
        raise DecodeError(f"not a JSON object: {value[:80]!r}")
    return value


def records_to_table(topic: str, values: Sequence[bytes | str | Mapping[str, Any]]) -> pa.Table:
    """Decode JSON values of ``topic`` (bytes from Kafka, or dicts) into an Arrow table.

    The table has the record's columns (``record_schema``), one row per value, in order;
    timestamps become ``timestamp[us, UTC]``. Values are trusted to be valid records (the
    producers validated them); one that does not fit the schema (missing required field,
    wrong type, unknown field) raises ``DecodeError`` for the whole batch, and the caller
    bisects to find it (``warehouse.sink``).
    """
    schema = record_schema(topics.by_name(topic).record)
    if not values:
        return schema.empty_table()
    record_name = schema.metadata[b"gridstream.record"].decode()
    try:
        lines = [_as_line(value) for value in values]
        longest = max(len(line) for line in lines)
        table = pa_json.read_json(
            pa.BufferReader(b"\n".join(lines)),
            read_options=pa_json.ReadOptions(block_size=max(_BLOCK_SIZE, 2 * longest + 2)),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="error"
            ),
        )
    except (DecodeError, pa.ArrowInvalid, orjson.JSONDecodeError, orjson.JSONEncodeError) as exc:
        raise DecodeError(f"{topic}: value does not fit {record_name}: {exc}") from exc
    if table.num_rows != len(lines):
        raise DecodeError(f"{topic}: {len(lines)} values decoded into {table.num_rows} rows")
    # The JSON reader drops the not-null flags; the cast puts the declared schema back.
    return table.cast(schema)
