"""Every meter reads at every quarter-hour boundary; a run ends one sample after one."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from gridstream.periods import ceil_quarter_hour
from simulator import default_fleet, simulate
from simulator.clock import SimClock
from simulator.timeline import check_start, sample_instants

START = datetime(2026, 1, 15, 10, tzinfo=UTC)


def test_sample_grid_restarts_at_every_boundary_even_when_the_interval_does_not_divide() -> None:
    # 7 min does not divide 15 min: 10:00, 10:07, 10:14, then the boundary 10:15 again.
    grid = list(itertools.islice(sample_instants(START, timedelta(minutes=7)), 7))
    assert [(t.strftime("%H:%M"), kind) for t, kind in grid] == [
        ("10:00", "clock"),
        ("10:07", "periodic"),
        ("10:14", "periodic"),
        ("10:15", "clock"),
        ("10:22", "periodic"),
        ("10:29", "periodic"),
        ("10:30", "clock"),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        datetime(2026, 1, 15, 10, 5, tzinfo=UTC),  # not on a quarter-hour
        datetime(2026, 1, 15, 10),  # noqa: DTZ001 - naive on purpose
    ],
)
def test_start_must_be_an_aware_quarter_hour(bad: datetime) -> None:
    with pytest.raises(ValueError, match="quarter-hour"):
        check_start(bad)


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(minutes=16), timedelta(seconds=1.5)])
def test_sample_interval_must_be_whole_seconds_up_to_a_quarter_hour(interval: timedelta) -> None:
    with pytest.raises(ValueError, match="sample interval"):
        next(sample_instants(START, interval))


def test_ceil_quarter_hour_keeps_a_boundary() -> None:
    assert ceil_quarter_hour(START) == START
    assert ceil_quarter_hour(START + timedelta(microseconds=1)) == START + timedelta(minutes=15)


@pytest.mark.parametrize("sample_s", [60, 420])
def test_every_evse_reads_at_every_boundary_and_the_run_ends_one_sample_after(
    sample_s: int,
) -> None:
    fleet = default_fleet(random.Random(3))
    last_boundary = START + timedelta(hours=3)
    sample = timedelta(seconds=sample_s)
    boundaries = [START + timedelta(minutes=15 * k) for k in range(13)]
    for station in fleet.stations:
        steps = simulate(station, START, last_boundary, sample)
        own = station.sampling.period or sample
        after = min(own, timedelta(minutes=1)) if station.sampling.every_minute else own
        for evse in station.evses:
            mine = [s for s in steps if s.evse.evse_id == evse.evse_id]
            clock = {s.ts for s in mine if s.sample == "clock"}
            assert clock >= set(boundaries), (station.station_id, evse.evse_id)
            # The last reading is one sample after the last boundary, and nothing is open.
            assert mine[-1].ts == last_boundary + after
            starts = sum(s.started is not None for s in mine)
            ends = sum(s.ended is not None for s in mine)
            assert starts == ends
            assert all(a.ts <= b.ts for a, b in itertools.pairwise(mine))


def test_open_sessions_end_at_the_last_instant_as_shutdown() -> None:
    fleet = default_fleet(random.Random(3))
    station = fleet.station("GNT-OFFICE-V2X1")
    steps = simulate(station, START, START + timedelta(minutes=30), timedelta(minutes=1))
    shutdown = [s for s in steps if s.end_reason == "shutdown"]
    assert shutdown, "a V2X visit lasts 2-4 h, so one is open after 30 min"
    # It samples every 37 s and every minute: 10:30:37 is the first sample after 10:30.
    assert {s.ts for s in shutdown} == {START + timedelta(minutes=30, seconds=37)}


def test_simulation_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[object]:
        station = default_fleet(random.Random(seed)).station("BRU-RETAIL-DC1")
        return [
            (s.ts, s.evse.evse_id, s.reading, s.started, s.ended)
            for s in simulate(station, START, START + timedelta(hours=2), timedelta(minutes=1))
        ]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_sim_clock_runs_speed_times_faster_than_the_real_clock() -> None:
    real = [100.0]
    clock = SimClock(START, speed=60, monotonic=lambda: real[0])
    real[0] = 102.5  # 2.5 real seconds later: 150 simulated seconds
    assert clock.now() == START + timedelta(seconds=150)
    # Simulated 10:05 is 300 / 60 = 5 real seconds after the start: 2.5 s from now.
    assert clock.real_seconds_until(START + timedelta(minutes=5)) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="speed"):
        SimClock(START, speed=0, monotonic=lambda: 0.0)
