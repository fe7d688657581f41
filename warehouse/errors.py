"""Errors the warehouse raises on purpose.

Hierarchy (under ``gridstream.errors.GridstreamError``)::

    WarehouseError      root of the warehouse's own errors
    ├── DecodeError     topic values that do not fit the topic's Arrow schema
    ├── CommitRefused   a table commit of offsets the table already holds (another sink)
    └── QueryError      a query against the DuckDB catalog failed; the message says why
"""

from __future__ import annotations

from gridstream.errors import GridstreamError


class WarehouseError(GridstreamError):
    """Root of the warehouse's errors."""


class DecodeError(WarehouseError):
    """Values of a topic could not be decoded into its Arrow schema.

    The sink does not stop on it: it isolates the offending records, counts them as
    rejected and writes the rest (``ParquetSink.take_rejections``).
    """


class CommitRefused(WarehouseError):
    """A Delta commit of a batch whose offsets the table already holds, or that lost a race.

    Another sink process wrote that partition meanwhile (a rebalance). The sink reads the
    table's offsets again and writes only what is still missing (``ParquetSink.flush``).
    """


class QueryError(WarehouseError):
    """A query failed.

    The message carries DuckDB's reason and, for an unknown table, the
    views that exist.
    """
