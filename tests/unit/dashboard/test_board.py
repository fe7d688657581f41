"""The dashboard's board: the stream's figures for today, the limit in force, the projection."""

from __future__ import annotations

from datetime import timedelta

from dashboard.board import Board
from gridstream.records import (
    FlexOffer,
    GridSignal,
    Peak,
    SiteAssignment,
    StationInfo,
)
from tests.unit.dashboard.records import NOW, Q, at, load, register


def board() -> Board:
    b = Board()
    b.take([
        SiteAssignment(station_id="ST1", site_id="S1", name="Depot", congestion_area="A",
                       contracted_capacity_w=20_000.0, timezone="Europe/Brussels"),
        StationInfo(station_id="ST2", received_at=at(9, 30), source="ocpp1.6", vendor="V",
                    model="M"),
        load(at(22, 45, day=3), 30_000.0),  # 23:45 on the 3rd in Brussels: yesterday
        load(at(9, 30), 8_000.0),
        load(at(9, 30), 9_000.0, revision=1),  # the later revision wins
        load(at(9, 45), 12_000.0),
        Peak(site_id="S1", month="2026-12", peak_w=14_000.0, interval_start=at(8, 0),
             revision=3, computed_by="test", as_of=NOW),
        GridSignal(kind="import_capacity_limit", scope_type="congestion_area", scope_id="A",
                   interval_start=at(10, 0), interval_end=at(10, 15), resolution="PT15M",
                   value=15_000.0, unit="W", source="dso", document_id="d1", revision=0,
                   received_at=NOW),
        FlexOffer(offer_id="A|10:00", congestion_area="A", interval_start=at(10, 0),
                  interval_end=at(10, 15), baseline_w=9_000.0, reduce_w=5_000.0,
                  increase_w=2_000.0, sessions=2, sites=1, revision=0, computed_by="t",
                  as_of=NOW),
        FlexOffer(offer_id="A|09:00", congestion_area="A", interval_start=at(9, 0),
                  interval_end=at(9, 15), baseline_w=1.0, reduce_w=1.0, increase_w=1.0,
                  sessions=1, sites=1, revision=0, computed_by="t", as_of=NOW),
        register(at(10, 0), 1_000.0),
        register(at(10, 5), 2_000.0),
    ], NOW)  # fmt: skip
    return b


def test_a_site_shows_today_against_its_peak_the_limit_in_force_and_the_open_projection() -> None:
    [site] = board().snapshot(NOW)["sites"]
    assert site["name"] == "Depot"
    assert site["day_start"] == int(at(23, 0, day=3).timestamp() * 1000)  # Brussels midnight
    assert site["quarter_hours"] == [
        [int(at(9, 30).timestamp() * 1000), 9_000.0],
        [int(at(9, 45).timestamp() * 1000), 12_000.0],
    ]
    assert site["month_peak_w"] == 14_000.0
    # the DSO's 15 kW for the area is lower than the 20 kW contracted
    assert (site["limit_w"], site["limit_source"]) == (
        15_000.0,
        "dso/import_capacity_limit/congestion_area:A",
    )
    # 1 kWh since 10:00 by 10:05, at 12 kW for the last 10 minutes: 3 kWh / 0.25 h = 12 kW
    assert site["open"] == {
        "start": int(at(10, 0).timestamp() * 1000),
        "energy_wh": 1_000.0,
        "projected_w": 12_000.0,
    }


def test_stations_are_online_while_they_spoke_lately_and_offers_show_for_now_and_next() -> None:
    snapshot = board().snapshot(NOW)
    assert [(s["station_id"], s["online"], s["last_message"]) for s in snapshot["stations"]] == [
        ("ST1", True, (at(10, 5) + timedelta(seconds=2)).isoformat()),
        ("ST2", False, at(9, 30).isoformat()),  # booted 37 minutes ago, silent since
    ]
    assert [(f["congestion_area"], f["reduce_w"]) for f in snapshot["flexibility"]] == [
        ("A", 5_000.0)
    ]


def test_the_warehouse_s_figures_show_until_the_live_stream_has_its_own() -> None:
    b = Board()
    # the warehouse's epoch had revised 09:45 three times and the peak twice
    b.seed([
        SiteAssignment(station_id="ST1", site_id="S1", timezone="Europe/Brussels"),
        load(at(9, 30), 7_000.0, revision=1),
        load(at(9, 45), 11_000.0, revision=3),
        Peak(site_id="S1", month="2026-12", peak_w=11_000.0, interval_start=at(9, 45),
             revision=2, computed_by="test", as_of=NOW),
    ], NOW)  # fmt: skip
    # a restarted broker's worker: revision 0 of 09:45 and of the month's peak
    b.take([
        load(at(9, 45), 10_000.0),
        Peak(site_id="S1", month="2026-12", peak_w=10_000.0, interval_start=at(9, 45),
             revision=0, computed_by="test", as_of=NOW),
    ], NOW)  # fmt: skip
    [site] = b.snapshot(NOW)["sites"]
    assert site["quarter_hours"] == [
        [int(at(9, 30).timestamp() * 1000), 7_000.0],  # only the warehouse has it
        [int(at(9, 45).timestamp() * 1000), 10_000.0],  # live, though its revision is lower
    ]
    assert site["month_peak_w"] == 10_000.0


def test_an_open_quarter_hour_without_readings_since_its_boundary_is_not_shown() -> None:
    b = board()
    assert b.snapshot(NOW)["sites"][0]["open"] is not None  # 10:00, with readings
    # 10:15 has begun and no reading came: 10:00 is closed, its projection is no longer news
    assert b.snapshot(NOW + Q)["sites"][0]["open"] is None
