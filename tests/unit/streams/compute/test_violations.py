"""Capacity-period violations, worked by hand from the site load's quarter-hours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gridstream.records import CapacityViolation, GridSignal, QuarterHourLoad, SiteAssignment
from streams.compute.computation import BatchContext
from streams.compute.signal_book import SignalBook
from streams.compute.violations import CapacityViolations, SiteViolations, ViolationConfig

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SITE = "EAN-541448"


def qh(
    index: int, import_kw: float, *, export_kw: float = 0.0, revision: int = 0
) -> QuarterHourLoad:
    return QuarterHourLoad(
        site_id=SITE,
        interval_start=T0 + timedelta(minutes=15 * index),
        import_wh=import_kw * 250,
        export_wh=export_kw * 250,
        avg_import_w=import_kw * 1000,
        avg_export_w=export_kw * 1000,
        meters=1,
        completeness=1.0,
        estimated=False,
        revision=revision,
        computed_by="test",
        as_of=T0,
    )


def signal(kind: str, scope: tuple[str, str], start: int, end: int, kw: float) -> GridSignal:
    return GridSignal(
        kind=kind,  # type: ignore[arg-type]
        scope_type=scope[0],  # type: ignore[arg-type]
        scope_id=scope[1],
        interval_start=T0 + timedelta(minutes=15 * start),
        interval_end=T0 + timedelta(minutes=15 * end),
        resolution="PT15M",
        value=kw * 1000,
        unit="W",
        source="dso",
        document_id="doc-1",
        revision=1,
        received_at=T0,
    )


class Harness:
    """The computation with its keyed state, fed batches of upstream loads."""

    def __init__(
        self,
        *,
        tolerance: float = 0.0,
        min_minutes: int = 15,
        info: SiteAssignment | None = None,
        signals: Sequence[GridSignal] = (),
    ) -> None:
        self.computation = CapacityViolations(
            ViolationConfig(tolerance=tolerance, min_duration=timedelta(minutes=min_minutes))
        )
        self.states: dict[str, Any] = {}
        self.book = SignalBook()
        self.book.add_all(signals)
        self.info = info

    def feed(self, *loads: QuarterHourLoad) -> list[CapacityViolation]:
        context = BatchContext(
            T0,
            lambda site: ZoneInfo("Europe/Brussels"),
            site_info=lambda site: self.info,
            signals=self.book,
            upstream=loads,
        )
        step = self.computation.process(self.states, [], context)
        assert all(isinstance(r, CapacityViolation) for r in step.records)
        return step.records  # type: ignore[return-value]


CONTRACT_10KW = SiteAssignment(station_id="CP-1", site_id=SITE, contracted_capacity_w=10_000)


def test_a_violation_opens_with_an_exceedance_and_closes_when_load_is_back_under_the_limit() -> (
    None
):
    h = Harness(tolerance=0.05, info=CONTRACT_10KW)
    # Limit 10 kW, tolerance 5 % (10.5 kW): 9 kW is under it, 12 kW exceeds by 1.5 kW.
    assert h.feed(qh(0, 9)) == []
    (opened,) = h.feed(qh(1, 12))
    assert (opened.state, opened.revision, opened.max_exceedance_w) == ("open", 0, 1_500)
    assert opened.energy_above_limit_wh == 500  # (12 - 10) kW x 0.25 h
    assert opened.limit_source == "contract"
    # 11 kW exceeds by 0.5 kW; 10.4 kW is inside the tolerance but still above 10 kW:
    # the violation goes on; 8 kW is back under the limit: it closes.
    for load in (qh(2, 11), qh(3, 10.4)):
        (update,) = h.feed(load)
        assert update.state == "open"
    (closed,) = h.feed(qh(4, 8))
    assert closed.state == "closed"
    assert closed.revision == 3
    assert closed.start == T0 + timedelta(minutes=15)
    assert closed.end == T0 + timedelta(minutes=60)
    assert (closed.duration_s, closed.quarter_hours) == (2_700, 3)
    assert closed.max_exceedance_w == 1_500
    # (2 + 1 + 0.4) kW x 0.25 h = 0.85 kWh above the limit
    assert closed.energy_above_limit_wh == 850


def test_load_inside_the_tolerance_does_not_open_a_violation() -> None:
    h = Harness(tolerance=0.05, info=CONTRACT_10KW)
    assert h.feed(qh(0, 10.5), qh(1, 10.2)) == []  # above 10 kW, never above 10.5 kW


def test_the_minimum_duration_holds_a_violation_back_until_it_has_lasted() -> None:
    h = Harness(min_minutes=30, info=CONTRACT_10KW)
    assert h.feed(qh(0, 12)) == []  # 15 minutes: not yet
    (v,) = h.feed(qh(1, 11))
    assert (v.state, v.start, v.quarter_hours, v.energy_above_limit_wh) == (
        "open",
        T0,
        2,
        750,  # (2 + 1) kW x 0.25 h
    )
    assert h.feed(qh(3, 15)) == []  # after a gap: a new run, 15 minutes so far


def test_the_tightest_limit_of_site_group_and_area_holds_for_its_period() -> None:
    info = SiteAssignment(
        station_id="CP-1",
        site_id=SITE,
        contracted_capacity_w=40_000,
        congestion_area="GENT-NOORD",
    )
    # The DSO limits the congestion area to 20 kW for quarter-hours 1 and 2 only.
    area = signal("import_capacity_limit", ("congestion_area", "GENT-NOORD"), 1, 3, 20)
    h = Harness(info=info, signals=[area])
    assert h.feed(qh(0, 30)) == []  # 30 kW under the contract's 40 kW
    (v,) = h.feed(qh(1, 26))
    assert (v.limit_w, v.limit_source) == (
        20_000,
        "dso/import_capacity_limit/congestion_area:GENT-NOORD",
    )
    (v,) = h.feed(qh(2, 21), qh(3, 30))  # 21 > 20 kW; at 30 kW the contract's 40 kW holds again
    assert (v.state, v.quarter_hours, v.energy_above_limit_wh) == (
        "closed",
        2,
        1_750,
    )  # (6+1) x 0.25


def test_a_limit_for_the_sites_ean_holds_too() -> None:
    info = SiteAssignment(station_id="CP-1", site_id="DEPOT", ean="541448800000000001")
    limit = signal("import_capacity_limit", ("site", "541448800000000001"), 0, 4, 5)
    h = Harness(info=info, signals=[limit])
    load = qh(0, 7).model_copy(update={"site_id": "DEPOT"})
    (v,) = h.feed(load)
    assert (v.site_id, v.max_exceedance_w) == ("DEPOT", 2_000)


def test_a_late_revision_that_lowers_the_load_withdraws_the_violation() -> None:
    h = Harness(info=CONTRACT_10KW)
    h.feed(qh(0, 8))
    (v,) = h.feed(qh(1, 12))
    (gone,) = h.feed(qh(1, 9, revision=1))  # a late reading: the quarter was 9 kW after all
    assert (gone.violation_id, gone.state, gone.revision) == (v.violation_id, "withdrawn", 1)
    assert h.feed(qh(2, 9)) == []


def test_a_late_revision_inside_a_violation_updates_its_figures_once() -> None:
    h = Harness(info=CONTRACT_10KW)
    h.feed(qh(0, 12), qh(1, 14), qh(2, 9))
    (v,) = (
        h.computation_records()
        if False
        else [h.states[SITE].emitted[f"{SITE}:import:{T0.isoformat()}"]]
    )
    assert (v.energy_above_limit_wh, v.max_exceedance_w) == (1_500, 4_000)  # (2 + 4) x 0.25
    (revised,) = h.feed(qh(1, 16, revision=1))
    assert (revised.revision, revised.energy_above_limit_wh, revised.max_exceedance_w) == (
        v.revision + 1,
        2_000,  # (2 + 6) x 0.25
        6_000,
    )
    assert h.feed(qh(1, 16, revision=1)) == []  # the same again: nothing new


def test_export_above_the_contracted_export_capacity_is_an_export_violation() -> None:
    info = SiteAssignment(station_id="CP-1", site_id=SITE, contracted_export_capacity_w=5_000)
    h = Harness(info=info)
    (v,) = h.feed(qh(0, 0, export_kw=7))
    assert (v.direction, v.max_exceedance_w, v.energy_above_limit_wh) == ("export", 2_000, 500)


def test_no_limit_known_means_no_violation() -> None:
    assert Harness().feed(qh(0, 500)) == []


def test_the_state_comes_back_from_its_snapshot_and_goes_on() -> None:
    h = Harness(info=CONTRACT_10KW)
    h.feed(qh(0, 12))
    snapshot = h.computation.to_dict(h.states[SITE])
    h.states[SITE] = h.computation.from_dict(snapshot)
    assert isinstance(h.states[SITE], SiteViolations)
    (v,) = h.feed(qh(1, 8))
    assert (v.state, v.revision) == ("closed", 1)
