"""``python -m bench.pruning``: a month of one site against the whole history's scan.

Issue 17, item 3: queries over a month of one site must not scan the whole history. Over a
generated history of a year (``bench.history``: 20 sites of four EVSEs, a sample every 5
minutes, 16.8 million readings, compacted as gridstream keeps it: one file per day), the monthly
peak of one site (``bench.reports.PEAKS_SQL`` over that site's readings of one month) is
run three ways, in one run:

1. whole history: the month as a condition on ``ts`` only: DuckDB opens every file (a ts
   range prunes no file: the files are per day, but ``ts`` has no partition value);
2. ``date`` filter: the same query with ``date BETWEEN`` the month's first and last day;
   the filter reaches the file scans through ``meter_readings`` (``warehouse.catalog``)
   and hive partitioning skips the other days' files;
3. narrowed catalog: ``open_catalog(data_dir, month_days(month))``, as ``gridstream
   report --month`` does: the views list only that month's files (and a day either side)
   from the Delta log.

For each: the files opened and row groups read by the file scans (DuckDB's ``EXPLAIN
ANALYZE``, summed over the scans), the bytes of the table's files in those days, and the
query's seconds (best of ``passes``), beside the seconds to open the catalog (refreshing
the views in the catalog file, or building them in memory over the month's files); then
the whole history's figures as a ratio to each.
All three must give the same rows (checked).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench import history
from bench.reports import PEAKS_SQL
from warehouse.catalog import Days, committed_files, month_days, open_catalog

SITE = "S0007"
MONTH = "2026-02"

_WHOLE = (
    f"(SELECT * FROM meter_readings WHERE site_id = '{SITE}' AND strftime(ts, '%Y-%m') = '{MONTH}')"
)
_DATED = (
    f"(SELECT * FROM meter_readings WHERE site_id = '{SITE}' "
    f"AND strftime(ts, '%Y-%m') = '{MONTH}' "
    f"AND date BETWEEN DATE '{MONTH}-01' AND last_day(DATE '{MONTH}-01'))"
)


def scanned(data_dir: Path, sql: str, days: Days | None = None) -> tuple[int, int]:
    """Files opened and row groups read by the file scans of ``sql``, summed over its scans.

    From DuckDB's ``EXPLAIN ANALYZE`` ("Total Files Read", "Row Groups Scanned").
    """
    with open_catalog(data_dir, days) as connection:
        plan = connection.execute(f"EXPLAIN ANALYZE {sql}").fetchall()[0][1]
    files = sum(int(n) for n in re.findall(r"Total Files Read: (\d+)", plan))
    groups = sum(int(n) for n in re.findall(r"Row Groups Scanned: (\d+) /", plan))
    return files, groups


def _bytes(data_dir: Path, days: Days | None) -> int:
    return sum(Path(f).stat().st_size for f in committed_files(data_dir, history.SAMPLES, days))


def _timed(
    data_dir: Path, sql: str, days: Days | None, passes: int
) -> tuple[float, float, list[Any]]:
    """Seconds to open the catalog and to run ``sql`` (best of ``passes`` each); its rows."""
    opened, ran, rows = float("inf"), float("inf"), []
    for _ in range(passes):
        began = time.perf_counter()
        with open_catalog(data_dir, days) as connection:
            middle = time.perf_counter()
            rows = connection.execute(sql).fetchall()
            ran = min(ran, time.perf_counter() - middle)
        opened = min(opened, middle - began)
    return opened, ran, rows


def measure(
    sites: int = 20, days: int = 365, passes: int = 3, workdir: Path | None = None
) -> dict[str, float]:
    """Generate the history, then the three ways' files, rows, bytes and seconds."""
    evses = 4
    readings = sites * evses * history.READINGS_PER_SAMPLE * days * 288
    month = month_days(MONTH)
    exact = (date.fromisoformat(f"{MONTH}-01"), date(2026, 2, 28))
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        data_dir = Path(tmp)
        made = history.generate(data_dir, readings, sites=sites, evses_per_site=evses)
        history.compact(data_dir)
        out |= {"readings": float(made.readings), "days": made.days}
        expected: list[Any] | None = None
        for name, where, narrowed, spanned in (
            ("whole", _WHOLE, None, None),
            ("dated", _DATED, None, exact),
            ("narrowed", _WHOLE, month, month),
        ):
            sql = PEAKS_SQL.format(readings=where)
            files, groups = scanned(data_dir, sql, narrowed)
            opened, seconds, result = _timed(data_dir, sql, narrowed, passes)
            if expected is None:
                expected = result
            elif result != expected:
                raise AssertionError(f"{name}: not the whole history's answer")
            out |= {
                f"{name}_files": float(files),
                f"{name}_row_groups": float(groups),
                f"{name}_bytes": float(_bytes(data_dir, spanned)),
                f"{name}_s": seconds,
                f"{name}_open_s": opened,
            }
        out["table_files"] = float(len(committed_files(data_dir, history.SAMPLES)))
    return out


def report(r: dict[str, float]) -> str:
    """Each way's files, rows, bytes and seconds, and the whole history's as a ratio."""
    lines = [
        f"{r['readings'] / 1e6:.1f} M readings over {r['days']:.0f} days, "
        f"{int(r['table_files'])} files; the monthly peak of {SITE} in {MONTH}:"
    ]
    for name, label in (
        ("whole", "ts condition (every file)"),
        ("dated", "date filter (pushed down)"),
        ("narrowed", "catalog narrowed (--month)"),
    ):
        ratio = "" if name == "whole" else (
            f"  whole/this: files {r['whole_files'] / r[f'{name}_files']:.1f}x, "
            f"bytes {r['whole_bytes'] / r[f'{name}_bytes']:.1f}x, "
            f"time {r['whole_s'] / r[f'{name}_s']:.1f}x"
        )  # fmt: skip
        lines.append(
            f"{label:27}: {int(r[f'{name}_files']):5} files opened "
            f"({int(r[f'{name}_row_groups'])} row groups) of {r[f'{name}_bytes'] / 1e6:6.1f} MB, "
            f"{r[f'{name}_s']:6.3f} s (+{r[f'{name}_open_s']:.2f} s to open the catalog){ratio}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.pruning", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    print(report(measure(args.sites, args.days, args.passes)))
