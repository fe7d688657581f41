"""Per-site summary, figures worked out by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from warehouse.report import SiteSummary, format_site_summary, site_summary
from warehouse.sink import ParquetSink

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
Q1, Q2, Q3 = T0, T0 + timedelta(minutes=15), T0 + timedelta(minutes=30)


@pytest.fixture
def warehouse(
    data_dir: Path,
    write: Callable[..., ParquetSink],
    load_factory: Callable[..., Any],
    transaction_factory: Callable[..., Any],
    sample_factory: Callable[..., Any],
) -> Path:
    """site1: three quarter-hours (Q1 revised), two sessions, four readings;
    site2: readings only; site3: one session only."""
    write(
        [
            load_factory(Q1, 100.0),
            load_factory(Q2, 200.0, export_wh=40.0),
            load_factory(Q3, 200.0),
            load_factory(Q1, 150.0, revision=1),  # replaces Q1's 100 Wh
            transaction_factory("started", T0, "tx1"),
            transaction_factory("ended", Q3, "tx1"),
            transaction_factory("started", Q2, "tx2", station_id="st2"),
            transaction_factory("started", T0, "tx9", station_id="st9", site_id="site3"),
            sample_factory(
                readings=[
                    ("Energy.Active.Import.Register", 1.0, "Wh", None),
                    ("Current.Import", 16.0, "A", "L1"),
                    ("Voltage", 230.0, "V", "L1-N"),
                ]
            ),
            sample_factory(ts=Q2, readings=[("Power.Active.Import", 7400.0, "W", None)]),
            sample_factory(
                site_id="site2",
                station_id="st5",
                readings=[("Voltage", 231.0, "V", "L1-N"), ("Voltage", 229.0, "V", "L2-N")],
            ),
        ]
    )
    return data_dir


def test_site_summary_adds_up_latest_revisions_and_counts_sessions_and_readings(
    warehouse: Path,
) -> None:
    assert site_summary(warehouse) == [
        SiteSummary(
            site_id="site1",
            import_wh=550.0,  # 150 (Q1, revision 1) + 200 (Q2) + 200 (Q3)
            export_wh=40.0,
            peak_avg_import_w=800.0,  # 200 Wh / 0.25 h; Q2 and Q3 tie, the earlier wins
            peak_interval_start=Q2,
            sessions=2,  # tx1 and tx2; three events
            readings=4,  # 3 + 1
        ),
        SiteSummary("site2", 0.0, 0.0, None, None, sessions=0, readings=2),
        SiteSummary("site3", 0.0, 0.0, None, None, sessions=1, readings=0),
    ]


def test_format_site_summary_is_an_aligned_table(warehouse: Path) -> None:
    assert format_site_summary(site_summary(warehouse)) == (
        "site_id  import_wh  export_wh  peak_avg_import_w  peak_interval_start"
        "        sessions  readings\n"
        "-------  ---------  ---------  -----------------  -------------------------"
        "  --------  --------\n"
        "site1        550.0       40.0              800.0  2026-01-15T10:15:00+00:00"
        "         2         4\n"
        "site2          0.0        0.0               NULL  NULL"
        "                              0         2\n"
        "site3          0.0        0.0               NULL  NULL"
        "                              1         0\n"
        "(3 rows)"
    )


def test_an_empty_warehouse_has_no_sites(data_dir: Path) -> None:
    assert site_summary(data_dir) == []


def test_site_summary_of_one_epoch_counts_only_that_run(
    warehouse: Path,
    write: Callable[..., ParquetSink],
    load_factory: Callable[..., Any],
    transaction_factory: Callable[..., Any],
) -> None:
    # A second run on a new embedded broker (epoch e2) replays site1's Q1 with other figures.
    write(
        [load_factory(Q1, 500.0), transaction_factory("started", T0, "tx7")],
        epoch="gridstream-e2",
    )
    [site1] = site_summary(warehouse, epoch="gridstream-e2")
    assert (site1.site_id, site1.import_wh, site1.sessions, site1.readings) == ("site1", 500, 1, 0)
    assert site1.peak_avg_import_w == 2000  # 500 Wh in a quarter-hour: 500 / 0.25 h
    # The first run's figures are unchanged by the second: 150 + 200 + 200 Wh.
    first = {s.site_id: s for s in site_summary(warehouse, epoch="gridstream-e1")}
    assert first["site1"].import_wh == 550
