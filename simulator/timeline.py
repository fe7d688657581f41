"""The simulated timeline of a station: which instants it reports, and what happens then.

Pure. A station samples every EVSE on a clock-aligned grid: each quarter-hour boundary
(``Sample.Clock``) and every ``sample_interval`` after it within the quarter-hour
(``Sample.Periodic``), so every interval ``[s, s + 15 min)`` starts and ends with a reading
of every meter and its energy is exactly a register difference. Session events (arrival,
departure, discharge window) add instants of their own, on the EVSE concerned only.

A run ends on a quarter-hour boundary ``B`` plus one more sample: the last instant is
``B + sample_interval``, where open sessions are ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from gridstream.periods import QUARTER_HOUR, quarter_hour_start
from simulator.evse import EndReason, EvseSim, EvseStep, SampleKind
from simulator.fleet import StationSpec
from simulator.sessions import SessionPlanner, plan_sessions


def check_start(start: datetime) -> None:
    """Refuse a start that is naive or not on a quarter-hour boundary (UTC)."""
    if start.tzinfo is None or start.astimezone(UTC) != quarter_hour_start(start):
        raise ValueError(f"start {start.isoformat()} must be aware and on a quarter-hour")


def check_sample_interval(sample_interval: timedelta) -> None:
    """Refuse a sample interval that is not a whole number of seconds within (0, 15 min]."""
    if (
        sample_interval <= timedelta(0)
        or sample_interval > QUARTER_HOUR
        or sample_interval.microseconds != 0
    ):
        raise ValueError(f"sample interval {sample_interval} must be whole seconds in (0 s, 900 s]")


def final_instant(last_boundary: datetime, sample_interval: timedelta) -> datetime:
    """The last instant of a run that ends on ``last_boundary``: one sample after it."""
    return last_boundary + sample_interval


def sample_instants(
    start: datetime, sample_interval: timedelta
) -> Iterator[tuple[datetime, SampleKind]]:
    """Endless clock-aligned sample instants from ``start`` (a quarter-hour boundary).

    >>> grid = sample_instants(datetime(2026, 1, 15, 10, tzinfo=UTC), timedelta(minutes=7))
    >>> [(t.strftime("%H:%M"), kind) for t, kind in [next(grid) for _ in range(4)]]
    [('10:00', 'clock'), ('10:07', 'periodic'), ('10:14', 'periodic'), ('10:15', 'clock')]
    """
    check_start(start)
    check_sample_interval(sample_interval)
    boundary = start.astimezone(UTC)
    while True:
        yield boundary, "clock"
        t = boundary + sample_interval
        while t < boundary + QUARTER_HOUR:
            yield t, "periodic"
            t += sample_interval
        boundary += QUARTER_HOUR


class StationSim:
    """All EVSEs of one station on one timeline, stepped instant by instant."""

    def __init__(
        self,
        station: StationSpec,
        start: datetime,
        sample_interval: timedelta,
        planner: SessionPlanner = plan_sessions,
    ) -> None:
        """Begin at ``start`` (a quarter-hour boundary), before its first instant."""
        self.station = station
        self.evses = {e.evse_id: EvseSim(e, planner(e, start), start) for e in station.evses}
        self._grid = sample_instants(start, sample_interval)
        self._grid_next = next(self._grid)

    def peek(self) -> datetime:
        """The next instant: a grid sample or an EVSE's next change, whichever is first."""
        changes = [c for sim in self.evses.values() if (c := sim.next_change()) is not None]
        return min([self._grid_next[0], *changes])

    def step(self) -> tuple[datetime, list[EvseStep]]:
        """Advance to the next instant; the steps of the EVSEs that sample or change there.

        At a grid instant every EVSE samples; otherwise only the EVSEs with a change at
        that instant are advanced. Steps are in EVSE id order.
        """
        t = self.peek()
        sample: SampleKind | None = None
        if self._grid_next[0] == t:
            sample = self._grid_next[1]
            self._grid_next = next(self._grid)
        steps: list[EvseStep] = []
        for sim in self.evses.values():
            if sample is not None or sim.next_change() == t:
                step = sim.advance(t, sample)
                if step.sample is not None or step.changed:
                    steps.append(step)
        return t, steps

    def end_sessions(self, reason: EndReason) -> list[EvseStep]:
        """End every running session at the current instant (e.g. at shutdown)."""
        steps = [sim.end_session(reason) for sim in self.evses.values()]
        return [s for s in steps if s is not None]

    def refuse(self, evse_id: int) -> EvseStep | None:
        """End the session the CSMS just refused on ``evse_id``; the EV takes no energy."""
        return self.evses[evse_id].end_session("refused")


def simulate(
    station: StationSpec,
    start: datetime,
    last_boundary: datetime,
    sample_interval: timedelta,
    planner: SessionPlanner = plan_sessions,
) -> list[EvseStep]:
    """Every step of ``station`` from ``start`` to ``last_boundary`` + one sample, offline.

    Sessions still open at the last instant end there with reason ``shutdown``, as in a
    live run (``stations.run_fleet``) that reaches its end.
    """
    sim = StationSim(station, start, sample_interval, planner)
    last = final_instant(last_boundary, sample_interval)
    out: list[EvseStep] = []
    while sim.peek() <= last:
        out += sim.step()[1]
    return out + sim.end_sessions("shutdown")
