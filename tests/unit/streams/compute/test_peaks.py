"""Monthly quarter-hour peaks in the site's time zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridstream.errors import StateError
from gridstream.records import QuarterHourLoad
from streams.compute.peaks import PeakState, monthly_peaks

BRUSSELS = ZoneInfo("Europe/Brussels")
AS_OF = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def load(start: datetime, avg_import_w: float, revision: int = 0) -> QuarterHourLoad:
    return QuarterHourLoad(
        site_id="SITE1",
        interval_start=start,
        import_wh=avg_import_w * 0.25,
        export_wh=0.0,
        avg_import_w=avg_import_w,
        avg_export_w=0.0,
        meters=1,
        completeness=1.0,
        estimated=False,
        revision=revision,
        computed_by="quarter_hour/1",
        as_of=AS_OF,
    )


def utc(day: int, hh: int, mm: int, month: int = 1) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=UTC)


def summary(peaks) -> list[tuple[str, float, str, int]]:
    return [(p.month, p.peak_w, p.interval_start.strftime("%d %H:%M"), p.revision) for p in peaks]


def test_peak_is_emitted_when_it_rises_and_not_for_lower_quarter_hours() -> None:
    state = PeakState("SITE1")
    first = monthly_peaks(state, [load(utc(10, 8, 0), 4_000.0)], BRUSSELS, AS_OF).peaks
    lower = monthly_peaks(state, [load(utc(10, 8, 15), 3_000.0)], BRUSSELS, AS_OF).peaks
    higher = monthly_peaks(state, [load(utc(10, 8, 30), 7_000.0)], BRUSSELS, AS_OF).peaks
    assert summary(first) == [("2026-01", 4_000.0, "10 08:00", 0)]
    assert lower == []
    assert summary(higher) == [("2026-01", 7_000.0, "10 08:30", 1)]
    assert (higher[0].computed_by, higher[0].as_of) == ("peaks/1", AS_OF)


def test_months_roll_over_in_the_site_time_zone() -> None:
    state = PeakState("SITE1")
    peaks = monthly_peaks(
        state,
        # 22:45Z on 31 January is 23:45 in Brussels (UTC+1): January.
        # 23:30Z on 31 January is 00:30 on 1 February in Brussels: February's first peak.
        [load(utc(31, 22, 45), 5_000.0), load(utc(31, 23, 30), 3_000.0)],
        BRUSSELS,
        AS_OF,
    ).peaks
    assert summary(peaks) == [
        ("2026-01", 5_000.0, "31 22:45", 0),
        ("2026-02", 3_000.0, "31 23:30", 0),
    ]


def test_revision_of_the_peak_quarter_hour_reemits_the_peak() -> None:
    state = PeakState("SITE1")
    monthly_peaks(
        state, [load(utc(10, 8, 0), 4_000.0), load(utc(10, 8, 15), 6_000.0)], BRUSSELS, AS_OF
    )
    up = monthly_peaks(state, [load(utc(10, 8, 15), 6_500.0, revision=1)], BRUSSELS, AS_OF)
    # revised down below 08:00's 4,000 W: the peak moves back to 08:00
    down = monthly_peaks(state, [load(utc(10, 8, 15), 3_500.0, revision=2)], BRUSSELS, AS_OF)
    assert summary(up.peaks) == [("2026-01", 6_500.0, "10 08:15", 1)]
    assert summary(down.peaks) == [("2026-01", 4_000.0, "10 08:00", 2)]


def test_an_older_revision_arriving_late_is_ignored() -> None:
    state = PeakState("SITE1")
    monthly_peaks(state, [load(utc(10, 8, 0), 4_000.0, revision=3)], BRUSSELS, AS_OF)
    assert (
        monthly_peaks(state, [load(utc(10, 8, 0), 9_000.0, revision=2)], BRUSSELS, AS_OF).peaks
        == []
    )


def test_equal_powers_leave_the_peak_with_the_earliest_quarter_hour() -> None:
    state = PeakState("SITE1")
    loads = [load(utc(10, 9, 0), 5_000.0), load(utc(10, 8, 0), 5_000.0)]
    assert summary(monthly_peaks(state, loads, BRUSSELS, AS_OF).peaks) == [
        ("2026-01", 5_000.0, "10 08:00", 0)
    ]


def test_settled_quarter_hours_still_hold_the_peak() -> None:
    state = PeakState("SITE1")
    monthly_peaks(state, [load(utc(10, 8, 0), 8_000.0)], BRUSSELS, AS_OF)
    state.settle_before_ms(int(utc(11, 0, 0).timestamp() * 1000))
    assert monthly_peaks(state, [load(utc(12, 8, 0), 7_000.0)], BRUSSELS, AS_OF).peaks == []
    assert state.months["2026-01"].open == {int(utc(12, 8, 0).timestamp() * 1000): (7_000.0, 0)}


def test_only_the_last_thirteen_months_are_kept() -> None:
    state = PeakState("SITE1")
    starts = [datetime(2025, 1, 10, tzinfo=UTC) + timedelta(days=31 * i) for i in range(15)]
    monthly_peaks(state, [load(s, 1_000.0) for s in starts], BRUSSELS, AS_OF)
    state.settle_before_ms(int(starts[-1].timestamp() * 1000))
    assert len(state.months) == 13 and min(state.months) == "2025-03"


def test_load_of_another_site_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="SITE1"):
        monthly_peaks(PeakState("SITE2"), [load(utc(10, 8, 0), 1.0)], BRUSSELS, AS_OF)


def test_snapshot_round_trips_and_refuses_an_unknown_version() -> None:
    state = PeakState("SITE1")
    monthly_peaks(state, [load(utc(10, 8, 0), 4_000.0)], BRUSSELS, AS_OF)
    state.settle_before_ms(int(utc(11, 0, 0).timestamp() * 1000))
    monthly_peaks(state, [load(utc(12, 8, 0), 3_000.0)], BRUSSELS, AS_OF)
    restored = PeakState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored.to_dict() == state.to_dict()
    (peak,) = monthly_peaks(restored, [load(utc(12, 8, 0), 4_500.0, 1)], BRUSSELS, AS_OF).peaks
    assert (peak.peak_w, peak.revision) == (4_500.0, 1)
    with pytest.raises(StateError):
        PeakState.from_dict({**state.to_dict(), "version": 0})
