"""Named reports: the views' figures narrowed by site, area, BRP and month, and the chart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from gridstream.cli import main
from gridstream.records import CapacityTariff, FlexOffer, Record
from warehouse.errors import QueryError
from warehouse.query import run_query
from warehouse.reports import REPORTS, Filters, peak_chart, report_sql, run_report

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def tariff(site: str, month: str, peak_w: float, revision: int = 0) -> CapacityTariff:
    return CapacityTariff(
        site_id=site, month=month, tariff_regime="capacity_tariff_flanders", peak_w=peak_w,
        peak_interval_start=T0, floor_w=2_500, billed_peak_w=max(peak_w, 2_500),
        months_averaged=12, months_measured=1, average_billed_peak_w=2_500, revision=revision,
        computed_by="test", as_of=T0,
    )  # fmt: skip


def offer(area: str, minutes: int, reduce_w: float) -> FlexOffer:
    start = T0 + timedelta(minutes=minutes)
    return FlexOffer(
        offer_id=f"{area}:{start.isoformat()}", congestion_area=area, interval_start=start,
        interval_end=start + timedelta(minutes=15), baseline_w=10_000, reduce_w=reduce_w,
        increase_w=0, sessions=2, sites=1, revision=0, computed_by="test", as_of=T0,
    )  # fmt: skip


@pytest.fixture
def warehouse(
    data_dir: Path, write: Callable[..., Any], assignment_factory: Callable[..., Any],
    load_factory: Callable[..., Any],
) -> Path:  # fmt: skip
    records: list[Record] = [
        tariff("site1", "2026-01", 11_000), tariff("site1", "2026-01", 9_000, revision=1),
        tariff("site2", "2026-01", 1_000), tariff("site1", "2026-02", 7_000),
        assignment_factory("st1", "site1", congestion_area="NORTH", brp="BRP-A",
                           contracted_capacity_w=10_000),
        assignment_factory("st2", "site2", congestion_area="SOUTH", brp="BRP-A"),
        offer("NORTH", 0, 4_000), offer("NORTH", 15, 2_000), offer("SOUTH", 0, 1_000),
        *(load_factory(T0 + timedelta(minutes=15 * q), 500.0 * (q + 1)) for q in range(4)),
    ]  # fmt: skip
    write(records)
    return data_dir


def test_the_peak_report_gives_each_site_s_latest_month_figures(warehouse: Path) -> None:
    columns, rows = run_report(warehouse, "peaks", Filters(month="2026-01"))
    by_site = {r[0]: dict(zip(columns, r, strict=True)) for r in rows}
    assert set(by_site) == {"site1", "site2"}
    assert by_site["site1"]["peak_kw"] == 9.0  # revision 1 wins over 11 kW
    assert by_site["site2"]["billed_peak_kw"] == 2.5  # 1 kW floored at 2.5 kW


@pytest.mark.parametrize(
    "filters, sites",
    [
        (Filters(site="site1"), [("site1", "2026-01"), ("site1", "2026-02")]),
        (Filters(area="SOUTH"), [("site2", "2026-01")]),
        (Filters(brp="BRP-A", month="2026-02"), [("site1", "2026-02")]),
        (Filters(area="NOWHERE"), []),
    ],
)
def test_filters_narrow_a_report_through_the_registry(
    warehouse: Path, filters: Filters, sites: list[tuple[str, str]]
) -> None:
    _, rows = run_report(warehouse, "peaks", filters)
    assert [(r[0], r[1]) for r in rows] == sites


def test_flexibility_is_per_area_and_day(warehouse: Path) -> None:
    columns, rows = run_report(warehouse, "flexibility", Filters(area="NORTH"))
    [north] = [dict(zip(columns, r, strict=True)) for r in rows]
    # two periods of 4 and 2 kW reduction: 3 kW on average, 4 at most
    assert (north["periods"], north["avg_reduce_kw"], north["max_reduce_kw"]) == (2, 3.0, 4.0)


def test_a_month_of_a_per_period_report_reads_that_month_s_files_only(
    warehouse: Path, write: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from warehouse import reports
    from warehouse.catalog import committed_files

    write([offer("NORTH", 60 * 24 * 45, 8_000)], first_offset=100)  # March 1st
    listed: list[int] = []

    def counting(data_dir: Path, sql: str, params: Any, **kwargs: Any) -> Any:
        listed.append(len(committed_files(data_dir, "flex.offers", kwargs["days"])))
        return run_query(data_dir, sql, params, **kwargs)

    monkeypatch.setattr(reports, "run_query", counting)
    _, january = run_report(warehouse, "flexibility", Filters(month="2026-01"))
    _, march = run_report(warehouse, "flexibility", Filters(month="2026-03"))

    assert [(r[0], str(r[1])) for r in january] == [
        ("NORTH", "2026-01-15"),
        ("SOUTH", "2026-01-15"),
    ]
    assert [(r[0], str(r[1]), r[5]) for r in march] == [("NORTH", "2026-03-01", 8.0)]
    assert len(committed_files(warehouse, "flex.offers")) == 2
    assert listed == [1, 1]  # each month's report listed its own day's file only


def test_a_filter_a_report_does_not_take_is_refused_by_name() -> None:
    with pytest.raises(
        QueryError, match="report flexibility has no site filter; it takes: area, month"
    ):
        report_sql(REPORTS["flexibility"], Filters(site="site1"))
    with pytest.raises(QueryError, match="expected YYYY-MM"):
        report_sql(REPORTS["peaks"], Filters(month="2026-13"))


def test_filter_values_are_parameters_never_sql(warehouse: Path) -> None:
    _, rows = run_report(warehouse, "peaks", Filters(site="site1' OR '1'='1"))
    assert rows == []


def test_every_report_runs_on_an_empty_warehouse(data_dir: Path) -> None:
    for name in REPORTS:
        columns, rows = run_report(data_dir, name, Filters())
        assert columns and rows == [], name


def test_the_peak_chart_is_a_png_of_the_month_s_quarter_hours(
    warehouse: Path, tmp_path: Path
) -> None:
    path = tmp_path / "peak.png"
    assert peak_chart(warehouse, "site1", "2026-01", path) == 4
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    with pytest.raises(QueryError, match="no quarter-hour load in 2026-03"):
        peak_chart(warehouse, "site1", "2026-03", path)


def test_the_cli_writes_a_report_as_parquet(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("GRIDSTREAM_DATA_DIR", str(warehouse))
    out = tmp_path / "peaks.parquet"
    argv = ["report", "peaks", "--area", "NORTH", "--format", "parquet", "--output", str(out)]
    assert main(argv) == 0
    table = pq.read_table(out)
    assert table.column("site_id").to_pylist() == ["site1", "site1"]
    assert f"{out}: 2 rows" in capsys.readouterr().out


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT * FROM peaks) TO '/tmp/peaks.csv'",
        "CREATE TABLE t AS SELECT 1",
        "SELECT 1; DROP VIEW peaks",
        "ATTACH '/tmp/other.duckdb'",
        "INSTALL httpfs",
    ],
)
def test_a_query_that_writes_is_refused(warehouse: Path, sql: str) -> None:
    with pytest.raises(QueryError, match="read-only here"):
        run_query(warehouse, sql)


def test_safe_queries_read_the_warehouse_and_no_other_file(warehouse: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"  # beside the data dir, not in it
    secret.write_text("token")
    _, rows = run_query(warehouse, "SELECT count(*) FROM capacity_tariff", safe=True)
    assert rows == [(3,)]
    with pytest.raises(QueryError, match="disabled by configuration"):
        run_query(warehouse, f"SELECT * FROM read_text('{secret}')", safe=True)
    # not safe: a local analyst may read their own files
    assert run_query(warehouse, f"SELECT content FROM read_text('{secret}')")[1] == [("token",)]
