"""``python -m bench.reports``: reports over 100 million readings, beside DuckDB on one file.

Issue 17, item 7: on a generated history of 100 million readings, the monthly-peak report
per site and a V2X balance per BRP as gridstream runs them, beside the same SQL run by
DuckDB directly on one Parquet file (measured when the issue was filed: 8-9 s for monthly
peaks of 463 sites from 100 M register readings); the aim is within 2x of that.

What "the same SQL" is here. gridstream's own ``peaks`` and ``v2x-brps`` reports read
tables only the stream computes (``tariffs.capacity``, ``balances.v2x``), which a
generated history of readings does not have, and which are thousands of rows, not
millions. So both sides run one SQL text that derives the figures from the register
readings, the way ``warehouse.replay`` would in batch, only simpler (a reading on every
quarter-hour boundary, so each step between two readings of a meter lies in one
quarter-hour):

- ``PEAKS_SQL``: per meter, the import register's rise between successive readings,
  summed per site and quarter-hour; per site and (UTC) month the highest quarter-hour,
  as average power (``* 4``: Wh in 15 minutes -> W);
- ``V2X_SQL``: the same for the import and the export register, netted per site and
  quarter-hour, joined to the site registry for each site's BRP, summed per BRP and day.

``{readings}`` is gridstream's ``meter_readings`` view (``warehouse.catalog``: the Delta
table's committed files, every reading once) on one side, and
``read_parquet('<one file>')`` of the same readings, one row each, on the other;
``{sites}`` is the ``site_registry`` view or ``read_parquet('<sites file>')``. Both sides
must give the same rows (checked). The history (``bench.history``) is written as the sink
commits it, then compacted with ``gridstream compact`` as a running gridstream keeps it;
``--no-compact`` measures the sink's files as they lie.

Reported: seconds of each (best of ``passes``), and the ratio gridstream / DuckDB on one
file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench import history
from warehouse.catalog import committed_files, open_catalog

PEAKS_SQL = """
WITH register AS (
    SELECT site_id, station_id, evse_id, ts, value FROM {readings}
    WHERE measurand = 'Energy.Active.Import.Register' AND phase IS NULL
),
steps AS (
    SELECT site_id, time_bucket(INTERVAL 15 MINUTE, lag(ts) OVER w) AS interval_start,
           value - lag(value) OVER w AS wh
    FROM register
    WINDOW w AS (PARTITION BY station_id, evse_id ORDER BY ts)
),
quarter_hours AS (
    SELECT site_id, interval_start, round(sum(wh), 3) AS import_wh
    FROM steps WHERE wh >= 0 GROUP BY ALL
)
SELECT site_id, strftime(interval_start, '%Y-%m') AS month, max(import_wh) * 4 AS peak_w,
       -- the earliest of equal quarter-hours (sums rounded to mWh: the same in any order)
       arg_max(interval_start, [import_wh, -epoch(interval_start)]) AS peak_interval_start
FROM quarter_hours GROUP BY ALL ORDER BY 1, 2
"""
"""Monthly peak per site (W) from the import register readings."""

V2X_SQL = """
WITH register AS (
    SELECT site_id, station_id, evse_id, measurand, ts, value FROM {readings}
    WHERE measurand IN ('Energy.Active.Import.Register', 'Energy.Active.Export.Register')
      AND phase IS NULL
),
steps AS (
    SELECT site_id, measurand, time_bucket(INTERVAL 15 MINUTE, lag(ts) OVER w) AS interval_start,
           value - lag(value) OVER w AS wh
    FROM register
    WINDOW w AS (PARTITION BY station_id, evse_id, measurand ORDER BY ts)
),
site_periods AS (
    SELECT site_id, interval_start,
           sum(wh) FILTER (WHERE measurand = 'Energy.Active.Import.Register') AS import_wh,
           sum(wh) FILTER (WHERE measurand = 'Energy.Active.Export.Register') AS export_wh
    FROM steps WHERE wh >= 0 GROUP BY ALL
),
brps AS (SELECT site_id, any_value(brp) AS brp FROM {sites} GROUP BY site_id)
SELECT brp, CAST(interval_start AS DATE) AS day, count(DISTINCT site_id) AS sites,
       sum(import_wh) AS import_wh, sum(export_wh) AS export_wh,
       sum(import_wh - export_wh) AS net_wh
FROM site_periods JOIN brps USING (site_id)
GROUP BY ALL ORDER BY 1, 2
"""
"""V2X balance per BRP and day (Wh), from the import and export register readings."""


def _timed(connection: duckdb.DuckDBPyConnection, sql: str, passes: int) -> tuple[float, list[Any]]:
    best, rows = float("inf"), []
    for _ in range(passes):
        began = time.perf_counter()
        rows = connection.execute(sql).fetchall()
        best = min(best, time.perf_counter() - began)
    return best, rows


def _same(a: list[Any], b: list[Any]) -> bool:
    """Row by row, numbers to 1e-6 relative (sums in another order differ in the last bits)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if abs(u - v) > 1e-6 * max(1.0, abs(u), abs(v)):
                    return False
            elif u != v:
                return False
    return True


def measure(
    readings: int = 100_000_000,
    *,
    passes: int = 2,
    compact: bool = True,
    workdir: Path | None = None,
    sites: int = 463,
    keep: Path | None = None,
) -> dict[str, float]:
    """Generate the history, then time both reports both ways; seconds and shapes.

    With ``keep``, the history goes there and stays, and a history already there (from a
    run with the same arguments) is used again rather than generated.
    """
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(keep) if keep is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        data_dir = root / "warehouse"
        flat, registry = root / "readings.parquet", root / "sites.parquet"
        shape = root / "history.json"
        if shape.exists():
            out: dict[str, float] = json.loads(shape.read_text())
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
            began = time.perf_counter()
            made = history.generate(data_dir, readings, sites=sites)
            out = {
                "readings": float(made.readings),
                "sites": float(made.sites),
                "days": made.days,
                "files_written": float(made.files),
                "generate_s": time.perf_counter() - began,
                "compact_s": history.compact(data_dir) if compact else 0.0,
            }
            out["files_read"] = float(len(committed_files(data_dir, history.SAMPLES)))
            history.flat_readings(data_dir, flat, registry)
            out["file_bytes"] = float(flat.stat().st_size)
            if keep is not None:
                shape.write_text(json.dumps(out))
        _log(f"history ready: {out}")

        plain = duckdb.connect()
        plain.execute("SET TimeZone = 'UTC'")
        on_file = {"readings": f"read_parquet('{flat}')", "sites": f"read_parquet('{registry}')"}
        warehouse = open_catalog(data_dir)
        in_views = {"readings": "meter_readings", "sites": "site_registry"}
        for connection in (plain, warehouse):
            connection.execute("SET enable_progress_bar = false")
        for name, sql in (("peaks", PEAKS_SQL), ("v2x", V2X_SQL)):
            out[f"{name}_file_s"], expected = _timed(plain, sql.format(**on_file), passes)
            _log(f"{name} on one file: {out[f'{name}_file_s']:.2f} s")
            out[f"{name}_warehouse_s"], got = _timed(warehouse, sql.format(**in_views), passes)
            _log(f"{name} through the views: {out[f'{name}_warehouse_s']:.2f} s")
            out[f"{name}_rows"] = float(len(got))
            if not _same(expected, got):
                raise AssertionError(f"{name}: the warehouse and the file disagree")
        warehouse.close()
        plain.close()
    return out


def _log(line: str) -> None:
    print(f"[bench.reports {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def report(r: dict[str, float]) -> str:
    """Each report's seconds both ways, and the ratio."""
    lines = [
        f"{r['readings'] / 1e6:.1f} M readings, {int(r['sites'])} sites, {r['days']:.1f} days: "
        f"generated in {r['generate_s']:.0f} s as {int(r['files_written'])} files, "
        f"compacted in {r['compact_s']:.0f} s to {int(r['files_read'])}",
    ]
    for name, label in (("peaks", "monthly peak per site"), ("v2x", "V2X balance per BRP/day")):
        file_s, warehouse_s = r[f"{name}_file_s"], r[f"{name}_warehouse_s"]
        lines.append(
            f"{label:24}: DuckDB on one file {file_s:6.2f} s, gridstream views "
            f"{warehouse_s:6.2f} s  ratio {warehouse_s / file_s:.2f}  "
            f"({int(r[f'{name}_rows'])} rows, the same both ways)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.reports", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--readings", type=int, default=100_000_000)
    parser.add_argument("--sites", type=int, default=463)
    parser.add_argument("--passes", type=int, default=2, help="runs of each query; best counts")
    parser.add_argument("--no-compact", action="store_true", help="the sink's files as they lie")
    parser.add_argument("--workdir", type=Path, help="where to generate (default: the temp dir)")
    parser.add_argument(
        "--keep", type=Path, help="generate into this folder and keep it; reuse it if there"
    )
    args = parser.parse_args()
    print(
        report(
            measure(
                args.readings,
                passes=args.passes,
                compact=not args.no_compact,
                workdir=args.workdir,
                sites=args.sites,
                keep=args.keep,
            )
        )
    )
