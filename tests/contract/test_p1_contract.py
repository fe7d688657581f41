"""Contract test: a real Fluvius e-MUCS 1.7.1 P1 telegram in tests/fixtures/grid/meter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connectors.grid import detect_format, parse_as

TELEGRAM = Path(__file__).parent.parent / "fixtures" / "grid" / "meter"
RECEIVED = datetime(2020, 5, 12, 11, 54, 10, tzinfo=UTC)
SITE = "541448800000000001"


def test_a_fluvius_telegram_gives_the_running_quarter_hour_the_month_peak_and_its_history() -> None:
    data = (TELEGRAM / "fluvius_p1_emucs171.telegram.txt").read_bytes()
    assert detect_format("fluvius_p1_emucs171.telegram.txt", data) == "p1"
    parsed = parse_as("p1", data, RECEIVED, SITE)
    assert parsed.rejected == ()

    def utc(*args: int) -> datetime:
        return datetime(*args, tzinfo=UTC)

    rows = [(s.kind, s.interval_start, s.interval_end, s.resolution, s.value)
            for s in parsed.signals]  # fmt: skip
    assert rows == [
        # telegram at 200512135409S = 13:54:09 CEST = 11:54:09Z: quarter-hour 11:45-12:00Z
        ("current_average_demand", utc(2020, 5, 12, 11, 45), utc(2020, 5, 12, 12, 0), "PT15M",
         2351.0),
        # May 2020 in Brussels: 1 May 00:00 CEST = 30 Apr 22:00Z .. 1 June 00:00 CEST
        ("monthly_peak_demand", utc(2020, 4, 30, 22), utc(2020, 5, 31, 22), "P1M", 2589.0),
        # the history, newest first: April, March (1 March 00:00 CET = 29 Feb 23:00Z), February
        ("monthly_peak_demand", utc(2020, 3, 31, 22), utc(2020, 4, 30, 22), "P1M", 3695.0),
        ("monthly_peak_demand", utc(2020, 2, 29, 23), utc(2020, 3, 31, 22), "P1M", 5980.0),
        ("monthly_peak_demand", utc(2020, 1, 31, 23), utc(2020, 2, 29, 23), "P1M", 4318.0),
    ]  # fmt: skip
    telegram_time = int(utc(2020, 5, 12, 11, 54, 9).timestamp())
    assert {(s.scope_type, s.scope_id, s.unit, s.source, s.revision) for s in parsed.signals} == {
        ("site", SITE, "W", "p1", telegram_time)
    }
    assert {s.document_id for s in parsed.signals} == {
        "p1:3153414733313031303231363035:2020-05-12T11:54:09+00:00"
    }
