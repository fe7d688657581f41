"""warehouse: Kafka -> Parquet (exactly once) -> DuckDB views, queries and reports.

``schemas``  Arrow schema per topic, derived from the record models; fast JSON decoding
``layout``   where files live and what their names mean (epoch, partition, offsets)
``sink``     ParquetSink (buffer, write, resume) and its aiokafka shell ``run_sink``
``catalog``  DuckDB views over the files, in ``<data_dir>/gridstream.duckdb``
``query``    run SQL and print the result as a table, CSV or JSON
``report``   per-site summary
``recent``   the latest revision of today's figures as records again (a late dashboard)
``backfill`` quarter-hour load recomputed in batch from stored samples, compared with the stream
"""

from warehouse.backfill import (
    Difference,
    compare,
    quarter_hour_load,
    read_samples,
    stream_quarter_hours,
)
from warehouse.catalog import open_catalog, refresh_views, view_names
from warehouse.errors import DecodeError, QueryError, WarehouseError
from warehouse.query import format_result, run_query
from warehouse.recent import recent_records
from warehouse.report import SiteSummary, format_site_summary, site_summary
from warehouse.schemas import records_to_table, topic_schema
from warehouse.sink import (
    ParquetSink,
    Rejection,
    SinkStats,
    make_sink_consumer,
    run_sink,
    seek_to_resume,
)

__all__ = [
    "DecodeError",
    "Difference",
    "ParquetSink",
    "QueryError",
    "Rejection",
    "SinkStats",
    "SiteSummary",
    "WarehouseError",
    "compare",
    "format_result",
    "format_site_summary",
    "make_sink_consumer",
    "open_catalog",
    "quarter_hour_load",
    "read_samples",
    "recent_records",
    "records_to_table",
    "refresh_views",
    "run_query",
    "run_sink",
    "seek_to_resume",
    "site_summary",
    "stream_quarter_hours",
    "topic_schema",
    "view_names",
]
