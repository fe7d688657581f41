"""Highest peaks ever and the capacity tariff, worked by hand from monthly peaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gridstream.records import (
    CapacityTariff,
    EvseQuarterHourLoad,
    HighestPeak,
    Peak,
    Record,
    SiteAssignment,
)
from streams.compute.computation import BatchContext
from streams.compute.peak_history import PeakHistory, PeakHistoryConfig

SITE = "EAN-541448"
T0 = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)


def peak(month: str, kw: float, *, revision: int = 0, day: int = 10) -> Peak:
    return Peak(
        site_id=SITE,
        month=month,
        peak_w=kw * 1000,
        interval_start=datetime(int(month[:4]), int(month[5:]), day, 18, tzinfo=UTC),
        revision=revision,
        computed_by="test",
        as_of=T0,
    )


def evse_load(minutes: int, kw: float, *, revision: int = 0) -> EvseQuarterHourLoad:
    return EvseQuarterHourLoad(
        site_id=SITE, station_id="CP-1", evse_id=1, transaction_id=None,
        interval_start=T0 + timedelta(minutes=minutes), import_wh=kw * 250, export_wh=0,
        avg_import_w=kw * 1000, avg_export_w=0, completeness=1, estimated=False,
        in_site_load=True, revision=revision, computed_by="test", as_of=T0,
    )  # fmt: skip


class Harness:
    def __init__(self, regime: str | None = None) -> None:
        self.computation = PeakHistory(PeakHistoryConfig(lateness=timedelta(hours=1)))
        self.states: dict[str, Any] = {}
        self.info = SiteAssignment(station_id="CP-1", site_id=SITE, tariff_regime=regime)

    def feed(self, *upstream: Record) -> list[Record]:
        context = BatchContext(
            T0, lambda s: ZoneInfo("Europe/Brussels"), site_info=lambda s: self.info,
            upstream=upstream,
        )  # fmt: skip
        return self.computation.process(self.states, [], context).records


def tariffs(records: list[Record]) -> dict[str, CapacityTariff]:
    return {r.month: r for r in records if isinstance(r, CapacityTariff)}


def highest(records: list[Record], station: str | None = None) -> list[HighestPeak]:
    return [r for r in records if isinstance(r, HighestPeak) and r.station_id == station]


def test_the_tariff_floors_each_month_at_2_5_kw_and_averages_twelve_months() -> None:
    h = Harness()  # the default regime: Flanders
    out = tariffs(h.feed(peak("2026-01", 6), peak("2026-02", 1), peak("2026-03", 4)))
    march = out["2026-03"]
    assert (march.peak_w, march.billed_peak_w, march.months_measured) == (4_000, 4_000, 3)
    # April 2025 .. March 2026: nine months without data at 2.5 kW, then 6, 2.5 (1 kW
    # floored) and 4 kW: (9 x 2.5 + 6 + 2.5 + 4) / 12 = 35 / 12 kW
    assert march.average_billed_peak_w == pytest.approx(35_000 / 12)
    assert (out["2026-02"].peak_w, out["2026-02"].billed_peak_w) == (1_000, 2_500)
    # January: (11 x 2.5 + 6) / 12 = 33.5 / 12 kW
    assert out["2026-01"].average_billed_peak_w == pytest.approx(33_500 / 12)


def test_twelve_floored_months_give_the_average_of_the_worked_example() -> None:
    # GRID.md 4.1 (wikibooks): May 0.632 kW and July 0 kW count as 2.5 kW.
    kw = [5.1, 6.2, 4.0, 0.632, 3.3, 0.0, 2.8, 7.9, 6.0, 5.5, 4.2, 3.0]
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    h = Harness("capacity_tariff_flanders")
    december = tariffs(h.feed(*(peak(m, w) for m, w in zip(months, kw, strict=True))))["2025-12"]
    billed = [5.1, 6.2, 4.0, 2.5, 3.3, 2.5, 2.8, 7.9, 6.0, 5.5, 4.2, 3.0]  # 53.0 kW in all
    assert december.average_billed_peak_w == pytest.approx(sum(billed) * 1000 / 12)
    assert december.average_billed_peak_w == pytest.approx(4_416.667, abs=1e-3)
    assert december.months_measured == 12


def test_a_revised_month_revises_the_later_months_whose_average_holds_it() -> None:
    h = Harness()
    h.feed(peak("2026-01", 6), peak("2026-02", 1), peak("2026-03", 4))
    out = tariffs(h.feed(peak("2026-01", 8, revision=1)))
    assert sorted(out) == ["2026-01", "2026-02", "2026-03"]
    assert out["2026-03"].average_billed_peak_w == pytest.approx(37_000 / 12)  # 2 kW more / 12
    assert out["2026-03"].revision == 1
    assert h.feed(peak("2026-01", 8, revision=1)) == []  # the same again: nothing new


def test_the_sites_highest_peak_ever_follows_its_months_down_as_well_as_up() -> None:
    h = Harness("none")
    [first] = highest(h.feed(peak("2026-01", 6), peak("2026-02", 9)))
    assert first.peak_w == 9_000 and first.interval_start.month == 2
    [lowered] = highest(h.feed(peak("2026-02", 5, revision=1)))  # February revised down
    assert (lowered.peak_w, lowered.interval_start.month, lowered.revision) == (6_000, 1, 1)


def test_no_capacity_tariff_regime_gives_no_tariff_figures() -> None:
    assert tariffs(Harness("none").feed(peak("2026-01", 6))) == {}
    assert tariffs(Harness("kWh_only_somewhere").feed(peak("2026-01", 6))) == {}


def test_a_meters_highest_quarter_hour_can_be_lowered_by_a_revision_until_it_settles() -> None:
    h = Harness("none")
    [p] = highest(h.feed(evse_load(0, 7), evse_load(15, 5)), "CP-1")
    assert (p.evse_id, p.peak_w) == (1, 7_000)
    [p] = highest(h.feed(evse_load(0, 3, revision=1)), "CP-1")  # the 7 kW quarter was 3 kW
    assert (p.peak_w, p.interval_start) == (5_000, T0 + timedelta(minutes=15))
    # Two hours on, the first quarter-hours are settled (lateness 1 h): still 5 kW.
    assert highest(h.feed(evse_load(120, 4)), "CP-1") == []
    state = h.states[SITE]
    assert state.meters["CP-1|1|"].open.keys() == {
        int((T0 + timedelta(minutes=120)).timestamp() * 1000)
    }
    assert state.meters["CP-1|1|"].settled[0] == 5_000


def test_the_state_comes_back_from_its_snapshot() -> None:
    h = Harness()
    h.feed(peak("2026-01", 6), evse_load(0, 7))
    h.states[SITE] = h.computation.from_dict(h.computation.to_dict(h.states[SITE]))
    assert h.feed(peak("2026-01", 6), evse_load(0, 7)) == []  # the same figures: nothing new
    [p] = highest(h.feed(evse_load(15, 8)), "CP-1")
    assert (p.peak_w, p.revision) == (8_000, 1)
