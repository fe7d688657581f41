"""The report and pruning benches, small: what they compare is like for like, and pruned."""

from __future__ import annotations

from pathlib import Path

from bench import history, pruning, reports
from warehouse.catalog import committed_files, open_catalog


def test_the_generated_history_is_what_the_warehouse_holds(tmp_path: Path) -> None:
    made = history.generate(tmp_path, 4_800, sites=3, evses_per_site=4, files_per_day=8)
    # 3 sites x 4 EVSEs, 2 readings a sample: 4,800 readings are 200 samples per EVSE
    assert (made.readings, made.samples_per_evse) == (4_800, 200)
    # Sites 0-2 are on Kafka partitions 0-2; 8 files a day over 4 partitions is two flushes
    # a day per partition, the second from 12:00 (the 144th 5-minute step): 3 x 2 files.
    assert made.files == len(committed_files(tmp_path, history.SAMPLES)) == 6
    with open_catalog(tmp_path) as connection:
        [(readings, sites, brps)] = connection.execute(
            "SELECT count(*), count(DISTINCT r.site_id), count(DISTINCT brp) "
            "FROM meter_readings r JOIN site_registry USING (station_id)"
        ).fetchall()
        [(falls,)] = connection.execute(
            "SELECT count(*) FROM (SELECT value - lag(value) OVER (PARTITION BY station_id, "
            "evse_id, measurand ORDER BY ts) AS step FROM meter_readings) WHERE step < 0"
        ).fetchall()
    assert (readings, sites, brps) == (4_800, 3, 3)
    assert falls == 0  # registers never go down


def test_the_report_bench_gets_the_same_rows_from_the_views_and_from_one_file(
    tmp_path: Path,
) -> None:
    r = reports.measure(4_800, passes=1, workdir=tmp_path, sites=3)
    assert r["readings"] == 4_800
    assert r["peaks_rows"] == 3  # three sites, one month (the 200 samples span 17 hours)
    assert r["v2x_rows"] == 3  # three BRPs, one day
    assert r["peaks_file_s"] > 0 and r["peaks_warehouse_s"] > 0
    assert "ratio" in reports.report(r)


def test_a_month_of_one_site_opens_only_that_month_s_files(tmp_path: Path) -> None:
    r = pruning.measure(sites=8, days=62, passes=1, workdir=tmp_path)  # January and February
    assert r["table_files"] == 62  # compacted: one file a day
    # The whole history's scans open January's files too; the pruned ones February's only.
    assert r["dated_files"] < r["whole_files"] * 0.6
    assert r["narrowed_files"] < r["whole_files"] * 0.6
    assert r["dated_bytes"] < r["whole_bytes"] * 0.6
    assert "whole/this" in pruning.report(r)
