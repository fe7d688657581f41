"""SQL over the warehouse, and the three ways to print a result.

``run_query`` refreshes the views, opens the catalog read-only (``catalog.open_catalog``)
with the session time zone at UTC, and returns column names and rows. ``format_result``
prints them as an aligned table, CSV or JSON; timestamps are ISO 8601 in every format.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
import orjson

from warehouse.catalog import Days, open_catalog, view_names
from warehouse.errors import QueryError

Format = Literal["table", "csv", "json"]
Row = tuple[Any, ...]


#: What a reader may run: queries and their plans. Everything else (COPY ... TO, CREATE,
#: ATTACH, INSTALL, SET, PRAGMA ...) writes somewhere or changes the session.
READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


def run_query(
    data_dir: Path,
    sql: str,
    params: dict[str, Any] | None = None,
    *,
    safe: bool = False,
    days: Days | None = None,
) -> tuple[list[str], list[Row]]:
    """Run ``sql`` (with named ``params``: ``$name``) on the catalog of ``data_dir``.

    Its column names and rows; a statement without a result gives ``([], [])``. Only
    reading statements run (``READ_STATEMENTS``); ``safe`` also keeps DuckDB to the data dir
    (no ``read_text('/etc/passwd')``, no file outside the warehouse), for anything that
    runs SQL it did not write itself. ``days`` narrows the dated topics' views to the files
    of those days (``catalog.open_catalog``): a query that only looks at them gives the
    same answer, sooner. Raises ``QueryError`` with the reason; for an unknown table the
    message lists the views.
    """
    refuse_writes(sql)
    connection = open_catalog(data_dir, days)
    try:
        if safe:
            connection.execute(
                "SET allowed_directories = $dirs", {"dirs": [f"{Path(data_dir).resolve()}/"]}
            )
            connection.execute("SET enable_external_access = false")
        cursor = connection.execute(sql, params or {})
        if cursor.description is None:
            return [], []
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
    except duckdb.CatalogException as exc:
        raise QueryError(f"{exc}\nviews: {', '.join(view_names())}") from exc
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    finally:
        connection.close()


def keep_to_data_dir(connection: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """No file access but under ``data_dir`` for the rest of the connection's life."""
    allowed = [f"{data_dir.resolve()}/", f"{data_dir.absolute()}/"]
    connection.execute(f"SET allowed_directories = {allowed!r}")  # paths we made, not input
    connection.execute("SET enable_external_access = false")


def refuse_writes(sql: str) -> None:
    """``QueryError`` unless every statement of ``sql`` only reads (``READ_STATEMENTS``)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    for statement in statements:
        if statement.type not in READ_STATEMENTS:
            kind = statement.type.name
            raise QueryError(
                f"the warehouse is read-only here: a {kind} statement is refused "
                "(SELECT and EXPLAIN run; write files with gridstream report --output)"
            )


def format_result(columns: Sequence[str], rows: Sequence[Row], fmt: Format) -> str:
    """``rows`` as text: ``table`` (aligned, numbers right), ``csv`` or ``json``.

    NULL prints as ``NULL`` in a table, an empty field in CSV and ``null`` in JSON;
    timestamps and dates as ISO 8601; lists and structs as JSON.

    >>> print(format_result(["site_id", "import_wh"], [("s1", 1500.5), ("s22", 20.0)], "table"))
    site_id  import_wh
    -------  ---------
    s1          1500.5
    s22           20.0
    (2 rows)
    """
    if fmt == "table":
        return _table(columns, rows)
    if fmt == "csv":
        return _csv(columns, rows)
    if fmt == "json":
        return _json(columns, rows)
    raise ValueError(f"unknown format {fmt!r}; known: table, csv, json")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _text(value: object, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return orjson.dumps(value, default=_json_default).decode()
    return str(value)


def _table(columns: Sequence[str], rows: Sequence[Row]) -> str:
    cells = [[_text(value, "NULL") for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    numeric = [
        any(_is_number(row[i]) for row in rows)
        and all(_is_number(row[i]) or row[i] is None for row in rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        padded = (
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        )
        return "  ".join(padded).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(out)


def _csv(columns: Sequence[str], rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_text(value, "") for value in row] for row in rows)
    return buffer.getvalue()


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _json(columns: Sequence[str], rows: Sequence[Row]) -> str:
    objects = [dict(zip(columns, row, strict=True)) for row in rows]
    return orjson.dumps(objects, default=_json_default, option=orjson.OPT_INDENT_2).decode()
