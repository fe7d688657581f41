"""Session flexibility per DOMAIN.md, with hand-worked numbers."""

import pytest

from streams.compute.flexibility import session_flexibility


def test_charging_session_can_reduce_to_what_still_reaches_target() -> None:
    # t 10:00, d 12:00 -> T = 2 h; E = 20 kWh, Pmax 11 kW, Pdis 0, D = 0.25 h
    # Plo = max(0, (20000 - 11000 x 1.75) / 0.25) = 750 / 0.25 = 3000 W
    # Emax 30 kWh: Phi = min(11000, 30000 / 0.25) = 11000; P0 11000 -> reduce 8000, increase 0
    f = session_flexibility(
        hours_to_departure=2.0, energy_needed_wh=20000, energy_room_wh=30000,
        p_min_w=0, p_max_w=11000, p_dis_w=0, baseline_w=11000,
    )  # fmt: skip
    assert f.p_lo_w == pytest.approx(3000)
    assert (f.reduce_w, f.increase_w) == (pytest.approx(8000), 0.0)


def test_v2x_session_with_slack_can_discharge() -> None:
    # T = 4 h, E = 10 kWh, Pmax 11 kW, Pdis 7 kW: (10000 - 11000 x 3.75) / 0.25 < 0
    # -> Plo = -7000; Emax 1 kWh: Phi = min(11000, 1000 / 0.25) = 4000
    # P0 2000: reduce 2000 + 7000 = 9000, increase 4000 - 2000 = 2000
    f = session_flexibility(
        hours_to_departure=4.0, energy_needed_wh=10000, energy_room_wh=1000,
        p_min_w=0, p_max_w=11000, p_dis_w=7000, baseline_w=2000,
    )  # fmt: skip
    assert (f.p_lo_w, f.p_hi_w) == (-7000, pytest.approx(4000))
    assert (f.reduce_w, f.increase_w) == (pytest.approx(9000), pytest.approx(2000))


def test_session_departing_within_the_period_must_take_e_over_t() -> None:
    # T = 0.2 h, E = 1 kWh: Plo = 1000 / 0.2 = 5000; P0 6000 -> reduce 1000
    f = session_flexibility(
        hours_to_departure=0.2, energy_needed_wh=1000, energy_room_wh=1000,
        p_min_w=0, p_max_w=11000, p_dis_w=0, baseline_w=6000,
    )  # fmt: skip
    assert f.p_lo_w == pytest.approx(5000)
    assert f.reduce_w == pytest.approx(1000)


def test_session_past_departure_offers_only_v2x() -> None:
    # past departure, Pdis 7000, P0 0: reduce 0 - (-7000) = 7000, increase 0
    f = session_flexibility(
        hours_to_departure=-0.5, energy_needed_wh=5000, energy_room_wh=5000,
        p_min_w=0, p_max_w=11000, p_dis_w=7000, baseline_w=0,
    )  # fmt: skip
    assert (f.reduce_w, f.increase_w) == (7000, 0.0)
