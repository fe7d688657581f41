"""Per-site summary of what the warehouse holds: energy, peak, sessions, readings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warehouse.catalog import QUARTER_HOUR_LOAD_OF_EPOCH, open_catalog
from warehouse.query import format_result

# {load}, {sessions} and {readings} are the whole history's views, or one epoch's rows.
_SUMMARY_SQL = """
WITH qh AS (SELECT * FROM {load}),
load AS (
    SELECT site_id, sum(import_wh) AS import_wh, sum(export_wh) AS export_wh
    FROM qh GROUP BY site_id
),
peak AS (
    SELECT site_id, avg_import_w AS peak_avg_import_w, interval_start AS peak_interval_start
    FROM qh
    QUALIFY row_number() OVER (
        PARTITION BY site_id ORDER BY avg_import_w DESC, interval_start
    ) = 1
),
session_count AS (SELECT site_id, count(*) AS sessions FROM {sessions} GROUP BY site_id),
reading_count AS (SELECT site_id, count(*) AS readings FROM {readings} GROUP BY site_id),
sites AS (
    SELECT site_id FROM load UNION SELECT site_id FROM session_count
    UNION SELECT site_id FROM reading_count
)
SELECT site_id, coalesce(import_wh, 0), coalesce(export_wh, 0),
       peak_avg_import_w, peak_interval_start,
       coalesce(sessions, 0), coalesce(readings, 0)
FROM sites
LEFT JOIN load USING (site_id)
LEFT JOIN peak USING (site_id)
LEFT JOIN session_count USING (site_id)
LEFT JOIN reading_count USING (site_id)
ORDER BY site_id
"""

_WHOLE_HISTORY = {"load": "quarter_hour_load", "sessions": "sessions", "readings": "meter_readings"}

# One broker epoch (one run on the embedded broker): the latest revision within it.
_ONE_EPOCH = {
    "load": QUARTER_HOUR_LOAD_OF_EPOCH,
    "sessions": """(
        SELECT DISTINCT site_id, station_id, transaction_id FROM transactions
        WHERE _epoch = $epoch)""",
    "readings": "(SELECT * FROM meter_readings WHERE _epoch = $epoch)",
}


@dataclass(frozen=True)
class SiteSummary:
    """What the warehouse holds for one site (grid connection), over its history or one run.

    Energy is the sum over the latest revision of every quarter-hour; the peak is the
    quarter-hour ``[peak_interval_start, +15 min)`` with the highest average import power
    (the earliest on a tie), None when the site has no quarter-hour load yet.
    """

    site_id: str
    import_wh: float
    export_wh: float
    peak_avg_import_w: float | None
    peak_interval_start: datetime | None
    sessions: int
    readings: int


def site_summary(data_dir: Path, epoch: str | None = None) -> list[SiteSummary]:
    """One summary per site that has load, sessions or readings, ordered by site id.

    With ``epoch`` (a broker's cluster id), only what was written under it: the figures of
    one run on the embedded broker, not of every run kept in the same data dir.
    """
    connection = open_catalog(data_dir)
    try:
        if epoch is None:
            rows = connection.execute(_SUMMARY_SQL.format(**_WHOLE_HISTORY)).fetchall()
        else:
            sql = _SUMMARY_SQL.format(**_ONE_EPOCH)
            rows = connection.execute(sql, {"epoch": epoch}).fetchall()
    finally:
        connection.close()
    return [SiteSummary(*row) for row in rows]


def format_site_summary(summaries: list[SiteSummary]) -> str:
    """The summaries as an aligned table, energy and power to 0.1 Wh / W."""
    columns = [
        "site_id",
        "import_wh",
        "export_wh",
        "peak_avg_import_w",
        "peak_interval_start",
        "sessions",
        "readings",
    ]
    rows = [
        (
            s.site_id,
            round(s.import_wh, 1),
            round(s.export_wh, 1),
            None if s.peak_avg_import_w is None else round(s.peak_avg_import_w, 1),
            s.peak_interval_start,
            s.sessions,
            s.readings,
        )
        for s in summaries
    ]
    return format_result(columns, rows, "table")
