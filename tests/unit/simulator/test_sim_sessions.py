"""Power curves taper; fleets and session plans are deterministic for a seed."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from simulator import Discharging, Misread, Visit, default_fleet, plan_sessions, small_fleet
from simulator.fleet import EvseSpec, Fleet, SiteSpec, StationSpec
from simulator.sessions import charge_power_w

START = datetime(2026, 1, 15, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("soc_pct", "expected_w"),
    [
        (10, 50_000.0),  # constant current: full power
        (60, 50_000.0),  # the taper starts here
        (70, 38_750.0),  # a quarter down: 50 kW x (1 - 0.9 x 0.25)
        (80, 27_500.0),  # halfway down: 50 kW x (1 - 0.9 x 0.5)
        (100, 5_000.0),  # the floor: a tenth of the power at 100 %
    ],
)
def test_power_is_flat_then_falls_linearly_to_a_tenth(soc_pct: float, expected_w: float) -> None:
    assert charge_power_w(50_000, soc_pct, taper_from_pct=60) == expected_w


def test_power_curve_never_rises_with_soc() -> None:
    powers = [charge_power_w(11_040, soc / 2, taper_from_pct=90) for soc in range(201)]
    assert all(a >= b for a, b in itertools.pairwise(powers))
    assert powers[0] == 11_040 and powers[-1] == 1_104


def evse(kind: str = "ac_11kw", seed: int = 7) -> EvseSpec:
    return EvseSpec(1, kind, seed=seed)  # type: ignore[arg-type]


def power_only() -> EvseSpec:
    return EvseSpec(1, "ac_11kw", seed=1, meter="power_only")


H = timedelta(hours=1)
V2X = Discharging(H, H, power_w=5000.0)


def test_sessions_are_the_same_for_the_same_seed() -> None:
    first = list(itertools.islice(plan_sessions(evse(seed=7), START), 20))
    again = list(itertools.islice(plan_sessions(evse(seed=7), START), 20))
    other = list(itertools.islice(plan_sessions(evse(seed=8), START), 20))
    assert first == again
    assert first != other


@pytest.mark.parametrize("kind", ["ac_7kw", "ac_11kw", "dc_50kw", "dc_v2x_11kw"])
def test_sessions_follow_each_other_with_idle_time_between(kind: str) -> None:
    sessions = list(itertools.islice(plan_sessions(evse(kind), START), 50))
    assert START <= sessions[0].arrival <= START + timedelta(minutes=20)
    for before, after in itertools.pairwise(sessions):
        assert after.arrival - before.departure >= timedelta(minutes=3)
    for s in sessions:
        assert s.soc_start_pct < s.soc_target_pct <= 100
        assert s.arrival.microsecond == 0 and s.departure.microsecond == 0
        assert len(s.session_id) == 36 and len(s.id_token) <= 20
        if s.discharge is not None:
            assert s.arrival < s.discharge.start < s.discharge.end <= s.departure


def test_only_v2x_sessions_discharge_and_most_of_them_do() -> None:
    v2x = list(itertools.islice(plan_sessions(evse("dc_v2x_11kw"), START), 50))
    ac = list(itertools.islice(plan_sessions(evse("ac_11kw"), START), 50))
    assert sum(s.discharge is not None for s in v2x) >= 30
    assert all(s.discharge is None for s in ac)


def test_default_fleet_is_the_same_for_the_same_seed() -> None:
    assert default_fleet(random.Random(42)) == default_fleet(random.Random(42))
    assert default_fleet(random.Random(42)) != default_fleet(random.Random(43))


def test_default_fleet_mixes_versions_and_groups_stations_in_sites() -> None:
    fleet = default_fleet(random.Random(1))
    assert [len(site.stations) for site in fleet.sites] == [2, 2, 3]
    assert sorted(s.version for s in fleet.stations) == [
        "1.6",
        "1.6",
        "1.6",
        "2.0.1",
        "2.0.1",
        "2.1",
        "2.1",
    ]
    assert all(1 <= len(s.evses) <= 4 for s in fleet.stations)
    assert any(e.bidirectional for s in fleet.stations for e in s.evses)
    assignments = fleet.site_assignments()
    assert {a.station_id: a.site_id for a in assignments} == fleet.site_of()
    assert {a.site_id for a in assignments} == {"BE-ANT-DEPOT", "BE-GNT-OFFICE", "BE-BRU-RETAIL"}
    assert all(a.timezone == "Europe/Brussels" for a in assignments)


def test_small_fleet_has_a_16_and_a_21_station_on_one_site() -> None:
    fleet = small_fleet(random.Random(1))
    assert [(s.station_id, s.version) for s in fleet.stations] == [
        ("SIM-CP16", "1.6"),
        ("SIM-CP21", "2.1"),
    ]
    assert set(fleet.site_of().values()) == {"SIM-SITE"}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: StationSpec("A:B", "S", "1.6", (evse(),)), "without ':'"),
        (lambda: StationSpec("A", "S", "1.6", (EvseSpec(2, "ac_7kw", 1),)), "1..n"),
        (lambda: StationSpec("A", "S", "2.0.1", (evse("dc_v2x_11kw"),)), "need OCPP 2.1"),
        (lambda: SiteSpec("S", (StationSpec("A", "T", "1.6", (evse(),)),)), "names site"),
        (lambda: StationSpec("A", "S", "1.6", (power_only(),)), "need OCPP 2.x"),
        (lambda: EvseSpec(1, "ac_11kw", 1, meter="power_only", misread=Misread(H)), "no register"),
        (lambda: EvseSpec(1, "ac_11kw", 1, visits=(Visit(H, H, 7e3), Visit(H, H, 7e3))), "leaves"),
        (
            lambda: EvseSpec(
                1, "ac_11kw", 1, visits=(Visit(H, H, 7e3, reuse_transaction_id=True),)
            ),
            "no transaction id to reuse",
        ),
        (
            lambda: EvseSpec(1, "ac_11kw", 1, visits=(Visit(H, H, 7e3, discharge=V2X),)),
            "cannot discharge",
        ),
        (
            lambda: Fleet(
                (
                    SiteSpec("S", (StationSpec("A", "S", "1.6", (evse(),)),)),
                    SiteSpec("T", (StationSpec("A", "T", "1.6", (evse(),)),)),
                )
            ),
            "used twice",
        ),
    ],
)
def test_inconsistent_fleet_descriptions_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]
