"""The warehouse's recent figures as records again: what a live view starts from.

A reader that joins late (``gridstream dashboard`` started after the pipeline, against a
broker whose topics no longer hold the whole day, or whose embedded broker was restarted)
still shows today: it folds in ``recent_records`` first, then follows the topics. Each
record type is read from the view that keeps its latest revision (``catalog``), so what
comes back is what ``gridstream query`` shows, one record per identity, in the record's
own shape (the columns the views add, such as ``max_exceedance_kw``, are left out).

Read-only and ``safe`` (``query.keep_to_data_dir``): served over HTTP by the dashboard,
so no file outside the data dir is read.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from gridstream import topics
from gridstream.records import (
    CapacityViolation,
    FlexOffer,
    GridSignal,
    Peak,
    PeakAlert,
    QuarterHourLoad,
    Record,
    SiteAssignment,
    StationInfo,
)
from warehouse import layout
from warehouse.catalog import open_catalog
from warehouse.errors import QueryError
from warehouse.query import keep_to_data_dir

#: Each record type, the view it is read from and which of its rows are recent (``$since``).
#: The registry and the stations' boots are read whole: a site or station last heard of
#: before ``since`` is still one the page shows.
SOURCES: tuple[tuple[type[Record], str, str], ...] = (
    (SiteAssignment, "site_registry", "true"),
    (StationInfo, "stations", "true"),
    (GridSignal, "grid_signals", "interval_end > $since"),
    (QuarterHourLoad, "quarter_hour_load", "interval_start >= $since"),
    (Peak, "peaks", "interval_start >= $since - INTERVAL 31 DAYS"),
    (PeakAlert, "peak_alerts", "reading_ts >= $since"),
    (CapacityViolation, "capacity_violations", "state = 'open' OR \"end\" >= $since"),
    (FlexOffer, "flex_offers", "interval_end > $since"),
)


def stored_records(data_dir: Path, record: type[Record], view: str) -> list[Record]:
    """Every row of ``view`` (one that keeps ``record``'s latest revisions) as records.

    An empty list when ``data_dir`` holds no warehouse: nothing is created.
    """
    data_dir = Path(data_dir)
    if not any(layout.has_files(data_dir, t.name) for t in topics.ALL):
        return []
    with open_catalog(data_dir) as connection:
        return _read(connection, record, view, "true", {})


def _read(
    connection: duckdb.DuckDBPyConnection,
    record: type[Record],
    view: str,
    where: str,
    params: dict[str, object],
) -> list[Record]:
    """The rows of ``view`` that meet ``where``, in ``record``'s own fields."""
    fields = list(record.model_fields)
    columns = ", ".join(f'"{name}"' for name in fields)
    cursor = connection.execute(
        f"SELECT {columns} FROM {view} WHERE {where}",  # names we wrote, not input
        {k: v for k, v in params.items() if f"${k}" in where},
    )
    return [record.model_validate(dict(zip(fields, row, strict=True))) for row in cursor.fetchall()]


def recent_records(data_dir: Path, since: datetime) -> list[Record]:
    """The latest revision of every record ``SOURCES`` names that is recent at ``since``.

    Ordered as ``SOURCES`` (the registry first: the sites' time zones and limits before
    their figures). An empty list when ``data_dir`` holds no warehouse: nothing is created.
    ``QueryError`` when DuckDB cannot read it.
    """
    data_dir = Path(data_dir)
    if not any(layout.has_files(data_dir, t.name) for t in topics.ALL):
        return []
    try:
        connection = open_catalog(data_dir)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    try:
        keep_to_data_dir(connection, data_dir)
        out: list[Record] = []
        for record, view, recent in SOURCES:
            out += _read(connection, record, view, recent, {"since": since})
        return out
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    finally:
        connection.close()
