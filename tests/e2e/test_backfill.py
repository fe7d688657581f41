"""gridstream backfill: pilot files into the warehouse, derived tables recomputed, verified."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridstream.backfill_import import backfill
from gridstream.cli import main
from gridstream.settings import Settings
from warehouse.query import run_query

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parents[1] / "fixtures" / "history"
T = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


async def test_backfilled_readings_and_logs_give_quarter_hours_peaks_and_dead_letters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", sink_flush_interval_s=0.2)
    result = await backfill(
        settings,
        [FIXTURES / "readings_one_evse.constructed.csv",
         FIXTURES / "ocpp16_session.constructed.ndjson"],
        progress=False, now=lambda: datetime(2026, 12, 4, tzinfo=UTC),
    )  # fmt: skip
    assert (result.samples, result.readings) == (16, 16)  # 13 from the CSV, 3 from the log
    assert result.rejected == {"bad_value": 1, "malformed_document": 2}

    _, loads = run_query(
        settings.data_dir,
        "SELECT site_id, interval_start, import_wh, avg_import_w FROM quarter_hour_load "
        "ORDER BY site_id, interval_start",
    )
    # SITE-B: 1 kWh every 5 minutes = 3,000 Wh a quarter-hour = 12 kW, four quarter-hours
    assert [row for row in loads if row[0] == "SITE-B"] == [
        ("SITE-B", datetime(2026, 1, 15, 8, 15 * q, tzinfo=UTC), 3000.0, 12_000.0) for q in range(4)
    ]
    # the logged session: 1,000 -> 3,500 -> 6,000 Wh at 08:00, 08:15, 08:30 (site = station)
    assert [row[2] for row in loads if row[0] == "CS-LOG-1"] == [2500.0, 2500.0]
    _, peaks = run_query(settings.data_dir, "SELECT site_id, peak_w FROM peaks ORDER BY 1")
    assert peaks == [("CS-LOG-1", 10_000.0), ("SITE-B", 12_000.0)]
    _, letters = run_query(settings.data_dir, "SELECT reason FROM dead_letters ORDER BY 1")
    assert letters == [("bad_value",), ("malformed_document",), ("malformed_document",)]

    # what was derived in batch is what the stored samples say, one site at a time
    monkeypatch.setenv("GRIDSTREAM_DATA_DIR", str(settings.data_dir))
    assert main(["verify"]) == 0
    assert "6 site quarter-hours recomputed from 16 stored meter samples; 0 differ" in (
        capsys.readouterr().out
    )
