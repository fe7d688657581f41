"""Named reports over the warehouse views, with filters, for ``gridstream report NAME``.

Each report is one SQL query over the views (``warehouse.catalog``) and says which of the
filters it takes: ``site``, ``area`` (congestion area, through the site registry where the
report has no area column), ``brp`` and ``month`` (``YYYY-MM``: the site's month where the
view has one, else the UTC month of its time column). Filters are bound as parameters,
never pasted into the SQL. ``peak_chart`` draws the peak report's picture: a site's
quarter-hour load over a month against the month's peak and its contracted capacity.

With ``--month``, a report whose rows are per period (``Report.per_period``) and the chart
read only the files of that month's days and a day either side, not the whole history
(``catalog.open_catalog``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from warehouse.catalog import month_days
from warehouse.errors import QueryError
from warehouse.query import Row, run_query


@dataclass(frozen=True)
class Report:
    """A named query and the columns its filters apply to (None: not filterable so)."""

    name: str
    about: str
    sql: str
    site: str | None = "site_id"
    area: str | None = None
    brp: str | None = None
    month: str | None = None
    order: str = "1, 2"
    #: Whether each row is one settlement period's or day's figures, so that a month's
    #: rows need only the files of that month's days (``--month`` prunes the rest).
    #: Not for per-session sums, whose sessions may cross the month's edge.
    per_period: bool = False


def _sites_of(filter_: str, column: str = "site_id") -> str:
    """A condition on ``column``: sites the registry puts in ``$area`` or under ``$brp``."""
    field = "congestion_area" if filter_ == "area" else "brp"
    return f"{column} IN (SELECT site_id FROM site_registry WHERE {field} = ${filter_})"


_SITES_OF_AREA = _sites_of("area")
_SITES_OF_BRP = _sites_of("brp")

REPORTS: dict[str, Report] = {
    r.name: r
    for r in (
        Report(
            "peaks",
            "monthly peak per site and the capacity-tariff estimate (Flanders: floor 2.5 kW, "
            "12-month average)",
            """SELECT t.site_id, t.month, t.tariff_regime, t.peak_w / 1000 AS peak_kw,
                      t.peak_interval_start, t.billed_peak_w / 1000 AS billed_peak_kw,
                      t.average_billed_peak_w / 1000 AS average_billed_peak_kw,
                      t.months_measured
               FROM capacity_tariff t""",
            site="t.site_id",
            area=_sites_of("area", "t.site_id"),
            brp=_sites_of("brp", "t.site_id"),
            month="t.month = $month",
        ),
        Report(
            "violations",
            "capacity-period violations (not withdrawn): exceedance, energy above, duration",
            """SELECT site_id, start, "end", direction, state, limit_w / 1000 AS limit_kw,
                      limit_source, max_exceedance_kw, energy_above_limit_kwh,
                      duration_s / 60 AS minutes
               FROM capacity_violations WHERE state <> 'withdrawn'""",
            area=_SITES_OF_AREA,
            brp=_SITES_OF_BRP,
            month="strftime(start, '%Y-%m') = $month",
        ),
        Report(
            "v2x-sessions",
            "V2X energy balance per charging session (valued; round-trip efficiency; what the "
            "EV offered to discharge)",
            """SELECT site_id, station_id, evse_id, transaction_id, first_period, periods,
                      import_wh / 1000 AS import_kwh, export_wh / 1000 AS export_kwh,
                      net_wh / 1000 AS net_kwh, net_cost_eur, round_trip_efficiency,
                      ev_dischargeable_wh / 1000 AS ev_dischargeable_kwh
               FROM v2x_balance_sessions""",
            area=_SITES_OF_AREA,
            brp=_SITES_OF_BRP,
            month="strftime(first_period, '%Y-%m') = $month",
            order="1, 5",
        ),
        Report(
            "v2x-sites",
            "V2X energy balance per site and day (from its settlement periods)",
            """SELECT site_id, CAST(interval_start AS DATE) AS day,
                      sum(import_wh) / 1000 AS import_kwh, sum(export_wh) / 1000 AS export_kwh,
                      sum(net_wh) / 1000 AS net_kwh, sum(net_cost_eur) AS net_cost_eur,
                      sum(imbalance_value_eur) AS imbalance_value_eur
               FROM v2x_balance_sites {where} GROUP BY ALL""",
            area=_SITES_OF_AREA,
            brp=_SITES_OF_BRP,
            month="strftime(interval_start, '%Y-%m') = $month",
            per_period=True,
        ),
        Report(
            "v2x-brps",
            "V2X energy balance per balance responsible party and day",
            """SELECT brp, CAST(interval_start AS DATE) AS day, max(sites) AS sites,
                      sum(import_wh) / 1000 AS import_kwh, sum(export_wh) / 1000 AS export_kwh,
                      sum(net_wh) / 1000 AS net_kwh, sum(net_cost_eur) AS net_cost_eur,
                      sum(imbalance_value_eur) AS imbalance_value_eur
               FROM v2x_balance_brps {where} GROUP BY ALL""",
            site=None,
            brp="brp = $brp",
            month="strftime(interval_start, '%Y-%m') = $month",
            per_period=True,
        ),
        Report(
            "flexibility",
            "flexibility offered per congestion area and day (average and largest per period)",
            """SELECT congestion_area, CAST(interval_start AS DATE) AS day,
                      count(*) AS periods, avg(baseline_w) / 1000 AS avg_baseline_kw,
                      avg(reduce_w) / 1000 AS avg_reduce_kw, max(reduce_w) / 1000 AS max_reduce_kw,
                      avg(increase_w) / 1000 AS avg_increase_kw,
                      max(increase_w) / 1000 AS max_increase_kw, max(sessions) AS max_sessions
               FROM flex_offers {where} GROUP BY ALL""",
            site=None,
            area="congestion_area = $area",
            month="strftime(interval_start, '%Y-%m') = $month",
            per_period=True,
        ),
        Report(
            "compliance",
            "charging-profile compliance per session: quarter-hours judged and kept, energy "
            "above plan",
            """SELECT site_id, station_id, evse_id, transaction_id, first_interval,
                      quarter_hours, judged, not_compliant, planned_wh / 1000 AS planned_kwh,
                      metered_wh / 1000 AS metered_kwh, max_deviation_w / 1000 AS max_deviation_kw,
                      energy_above_plan_wh / 1000 AS energy_above_plan_kwh
               FROM profile_compliance_sessions""",
            area=_SITES_OF_AREA,
            brp=_SITES_OF_BRP,
            month="strftime(first_interval, '%Y-%m') = $month",
            order="1, 5",
        ),
        Report(
            "grid-code",
            "frequency and voltage excursions, and whether V2X sessions responded",
            """SELECT site_id, kind, start, "end", state, direction, station_id, phase, extreme,
                      duration_s, sessions_affected, sessions_responded
               FROM grid_code_events""",
            area=_SITES_OF_AREA,
            brp=_SITES_OF_BRP,
            month="strftime(start, '%Y-%m') = $month",
            order="1, 3",
        ),
    )
}


@dataclass(frozen=True)
class Filters:
    """What a report is narrowed to; None: everything."""

    site: str | None = None
    area: str | None = None
    brp: str | None = None
    month: str | None = None

    def given(self) -> dict[str, str]:
        """The filters set, by name."""
        return {k: v for k, v in vars(self).items() if v is not None}


def report_sql(report: Report, filters: Filters) -> tuple[str, dict[str, Any]]:
    """The report's SQL narrowed by ``filters``, and its parameters.

    Raises ``QueryError`` for a filter the report does not take, or a month not ``YYYY-MM``.
    """
    conditions: list[str] = []
    params: dict[str, Any] = {}
    for name, value in filters.given().items():
        column = getattr(report, name)
        if column is None:
            takes = [f for f in ("site", "area", "brp", "month") if getattr(report, f)]
            raise QueryError(
                f"report {report.name} has no {name} filter; it takes: {', '.join(takes)}"
            )
        if name == "month":
            if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value) is None:
                raise QueryError(f"--month {value!r}: expected YYYY-MM")
        conditions.append(column if "$" in column else f"{column} = ${name}")
        params[name] = value
    where = " AND ".join(conditions)
    if "{where}" in report.sql:  # grouped: filter before grouping
        sql = report.sql.replace("{where}", f"WHERE {where}" if where else "")
    elif where:
        joiner = " AND " if " WHERE " in report.sql.upper() else " WHERE "
        sql = report.sql + joiner + where
    else:
        sql = report.sql
    return f"{sql} ORDER BY {report.order}", params


def run_report(data_dir: Path, name: str, filters: Filters) -> tuple[list[str], list[Row]]:
    """Column names and rows of report ``name``; ``QueryError`` for an unknown one."""
    report = REPORTS.get(name)
    if report is None:
        raise QueryError(f"unknown report {name!r}; reports: {', '.join(sorted(REPORTS))}")
    sql, params = report_sql(report, filters)
    days = month_days(filters.month) if report.per_period and filters.month else None
    return run_query(data_dir, sql, params, days=days)


def write_parquet(columns: list[str], rows: list[Row], path: Path) -> None:
    """The rows as a Parquet file (types as DuckDB gave them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({c: [row[i] for row in rows] for i, c in enumerate(columns)})
    pq.write_table(table, path)


def peak_chart(data_dir: Path, site_id: str, month: str, path: Path) -> int:
    """Draw a site's quarter-hour load over ``month`` against its peak and limit, as PNG.

    The month is the UTC month of the quarter-hours. Returns how many quarter-hours were
    drawn; ``QueryError`` when the site has none in that month.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display here: files only
    import matplotlib.pyplot as plt

    _, loads = run_query(
        data_dir,
        "SELECT interval_start, avg_import_w / 1000, avg_export_w / 1000 FROM quarter_hour_load "
        "WHERE site_id = $site AND strftime(interval_start, '%Y-%m') = $month ORDER BY 1",
        {"site": site_id, "month": month},
        days=month_days(month),
    )
    if not loads:
        raise QueryError(f"site {site_id} has no quarter-hour load in {month}")
    _, peak = run_query(
        data_dir,
        "SELECT max(peak_w) / 1000 FROM peaks WHERE site_id = $site AND month = $month",
        {"site": site_id, "month": month},
    )
    _, limit = run_query(
        data_dir,
        "SELECT max(contracted_capacity_w) / 1000 FROM site_registry WHERE site_id = $site",
        {"site": site_id},
    )
    figure, axes = plt.subplots(figsize=(10, 4), dpi=100)
    # Each quarter-hour drawn over its 15 minutes: the last one's end closes the steps.
    starts = [row[0] for row in loads] + [loads[-1][0] + timedelta(minutes=15)]
    imports = [row[1] for row in loads] + [loads[-1][1]]
    axes.step(starts, imports, where="post", label="import (kW, 15-min avg)")
    if any(row[2] for row in loads):
        exports = [-row[2] for row in loads] + [-loads[-1][2]]
        axes.step(starts, exports, where="post", label="export (kW)")
    if peak and peak[0][0] is not None:
        axes.axhline(peak[0][0], color="tab:red", linestyle="--", label="month's peak")
    if limit and limit[0][0] is not None:
        axes.axhline(limit[0][0], color="black", linestyle=":", label="contracted capacity")
    axes.set_title(f"{site_id}, {month}: quarter-hour load")
    axes.set_ylabel("kW")
    axes.legend(loc="upper right")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
    return len(loads)
