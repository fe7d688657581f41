"""The meter integrates power into registers exactly; the battery follows the energy."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from simulator.evse import EvseSim
from simulator.fleet import EvseSpec
from simulator.meter import (
    Battery,
    Registers,
    integrate,
    phase_currents_a,
    phase_voltages_v,
    reading,
)
from simulator.sessions import Discharge, Session

T0 = datetime(2026, 1, 15, 10, tzinfo=UTC)


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def session(**overrides: object) -> Session:
    fields: dict[str, object] = {
        "session_id": "s1",
        "arrival": minutes(0),
        "departure": minutes(120),
        "id_token": "TOKEN",
        "capacity_wh": 100_000.0,
        "soc_start_pct": 50.0,
        "soc_target_pct": 100.0,
        "ev_max_power_w": 50_000.0,
        "taper_from_pct": 90.0,
        "efficiency": 0.9,
    }
    fields.update(overrides)
    return Session(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("power_w", "duration", "expected"),
    [
        # 11,000 W x 0.25 h = 2,750 Wh on top of 1,000 Wh.
        (11_000, timedelta(minutes=15), (3750, 0)),
        # 7,360 W x 7.5 min = 7,360 x 450 / 3,600 = 920 Wh, exactly despite 1/3 Wh per 10 s.
        (7_360, timedelta(minutes=7, seconds=30), (1920, 0)),
        # -10,000 W x 6 min = 1,000 Wh exported; the import register does not move.
        (-10_000, timedelta(minutes=6), (1000, 1000)),
        # 0 W changes nothing.
        (0, timedelta(hours=1), (1000, 0)),
    ],
)
def test_registers_grow_by_power_times_duration(
    power_w: float, duration: timedelta, expected: tuple[int, int]
) -> None:
    assert integrate(Registers.from_wh(1000), power_w, duration).read() == expected


def test_integrating_in_small_steps_equals_one_big_step() -> None:
    # 7,360 W in 90 steps of 10 s: 7,360 x 10 / 3,600 = 20.44.. Wh per step, 1,840 Wh in all.
    registers = Registers.from_wh(0)
    for _ in range(90):
        registers = integrate(registers, 7_360, timedelta(seconds=10))
    assert registers.read() == (1840, 0)


def test_registers_read_truncated_to_whole_wh() -> None:
    # 100 W for 35 s is 3,500 Ws = 0.97 Wh: the display still shows 0.
    assert integrate(Registers.from_wh(0), 100, timedelta(seconds=35)).read() == (0, 0)
    assert integrate(Registers.from_wh(0), 100, timedelta(seconds=36)).read() == (1, 0)


def test_battery_soc_moves_by_grid_energy_times_efficiency() -> None:
    # 10 kWh from the grid at 90 % puts 9 kWh in a 60 kWh battery: +15 points.
    assert Battery(60_000, 20).after(10_000, 0.9).soc_pct == pytest.approx(35.0)
    # 9 kWh to the grid at 90 % takes 10 kWh out of the cells: -16.67 points.
    assert Battery(60_000, 50).after(-9_000, 0.9).soc_pct == pytest.approx(50 - 100 / 6)


def test_voltages_stay_around_230_v_per_phase() -> None:
    instants = (T0 + timedelta(seconds=97 * k) for k in range(2000))
    values = list(itertools.chain.from_iterable(phase_voltages_v(t, 3, 7) for t in instants))
    assert min(values) >= 226.0 and max(values) <= 234.0
    assert len(phase_voltages_v(T0, 1, 7)) == 1


def test_phase_currents_carry_the_power() -> None:
    volts = (231.0, 229.5, 230.2)
    amps = phase_currents_a(11_040, volts)
    # sum of V x I per phase = P, within the 0.01 A rounding.
    assert sum(v * a for v, a in zip(volts, amps, strict=True)) == pytest.approx(11_040, abs=7)
    assert phase_currents_a(-9_000, volts) == phase_currents_a(9_000, volts)


def test_reading_rounds_power_and_soc() -> None:
    r = reading(T0, Registers(3600 * 5 + 10), 1234.6, 3, 1, 51.234)
    assert (r.import_wh, r.export_wh, r.power_w, r.soc_pct) == (5, 0, 1235.0, 51.2)
    assert (r.import_power_w, r.export_power_w) == (1235.0, 0.0)


def test_evse_meter_integrates_a_session_piecewise() -> None:
    # AC 11 kW EVSE (11,040 W): EV from 10:00 to 10:30, idle before and after.
    evse = EvseSpec(1, "ac_11kw", seed=1, initial_import_wh=500)
    sim = EvseSim(evse, iter([session(arrival=minutes(5), departure=minutes(30))]), T0)
    first = sim.advance(minutes(0), "clock")
    assert (first.reading.import_wh, first.reading.power_w, first.started) == (500, 0.0, None)
    start = sim.advance(minutes(5), None)
    assert start.started is not None and start.reading.power_w == 11_040.0
    # 10:05-10:15 at 11,040 W: 11,040 x 10 / 60 = 1,840 Wh.
    assert sim.advance(minutes(15), "clock").reading.import_wh == 500 + 1840
    end = sim.advance(minutes(30), "clock")
    # 10:15-10:30: 2,760 Wh more; the EV left, power is 0 from 10:30.
    assert end.ended is not None and end.end_reason == "departed"
    assert (end.reading.import_wh, end.reading.power_w) == (500 + 1840 + 2760, 0.0)
    assert sim.advance(minutes(45), "clock").reading.import_wh == 500 + 4600


def test_evse_stops_at_the_target_exactly() -> None:
    # 11,040 W x 0.9 into 10 kWh from 79 %: 1 % (100 Wh of cells) takes 111.1 Wh of grid
    # energy, reached after 36.2 s; the register grows by 111 Wh and the EV suspends.
    evse = EvseSpec(1, "ac_11kw", seed=1)
    s = session(capacity_wh=10_000.0, soc_start_pct=79.0, soc_target_pct=80.0)
    sim = EvseSim(evse, iter([s]), T0)
    sim.advance(minutes(0), "clock")
    step = sim.advance(minutes(1), "periodic")
    assert step.reading.import_wh == 111
    assert step.reading.soc_pct == 80.0
    assert (step.reading.power_w, step.charging_state, step.state_changed) == (
        0.0,
        "SuspendedEV",
        True,
    )
    assert sim.advance(minutes(2), "periodic").reading.import_wh == 111


def test_discharge_grows_the_export_register_down_to_the_minimum_soc() -> None:
    # V2X at 10 kW, 0.9 efficiency, 10 kWh battery from 31 % with a 30 % floor: 100 Wh of
    # cells give 90 Wh to the grid, reached after 32.4 s.
    evse = EvseSpec(1, "dc_v2x_11kw", seed=1, initial_export_wh=1000)
    window = Discharge(minutes(0), minutes(30), power_w=10_000.0, min_soc_pct=30.0)
    s = session(capacity_wh=10_000.0, soc_start_pct=31.0, discharge=window)
    sim = EvseSim(evse, iter([s]), T0)
    started = sim.advance(minutes(0), "clock")
    assert (started.reading.power_w, started.discharging) == (-10_000.0, True)
    step = sim.advance(minutes(1), "periodic")
    assert (step.reading.import_wh, step.reading.export_wh) == (0, 1090)
    assert step.reading.soc_pct == 30.0
    assert step.reading.power_w == 0.0
