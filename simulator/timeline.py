"""The simulated timeline of a station: which instants it reports, and what happens then.

Pure. A station samples every EVSE on a grid of its own (``quirks.Sampling``): each
quarter-hour boundary (``Sample.Clock``), every ``period`` after it within the quarter-hour
(``Sample.Periodic``; off the boundaries when the period does not divide 15 minutes), and,
where its site's load is netted per minute, every minute boundary (``Sample.Clock``). So
every interval ``[s, s + 15 min)`` starts and ends with a reading of every meter, and its
energy is exactly a register difference. Session events (arrival, departure, discharge
window) add instants of their own, on the EVSE concerned only.

Inside one of the station's offline windows (``quirks.Offline``) the steps are marked
``offline``: the station sends them late, when the window ends.

A run ends on a quarter-hour boundary ``B`` plus one more sample: the last instant of a
station is its first sample instant after ``B``, where open sessions are ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gridstream.periods import QUARTER_HOUR, quarter_hour_start
from simulator.evse import EndReason, EvseSim, EvseStep, SampleKind
from simulator.fleet import StationSpec
from simulator.quirks import check_period
from simulator.sessions import SessionPlanner, plan_sessions

MINUTE = timedelta(minutes=1)


def check_start(start: datetime) -> None:
    """Refuse a start that is naive or not on a quarter-hour boundary (UTC)."""
    if start.tzinfo is None or start.astimezone(UTC) != quarter_hour_start(start):
        raise ValueError(f"start {start.isoformat()} must be aware and on a quarter-hour")


def check_sample_interval(sample_interval: timedelta) -> None:
    """Refuse a sample interval that is not a whole number of seconds within (0, 15 min]."""
    check_period(sample_interval)


def first_sample_after_boundary(sample_interval: timedelta, every_minute: bool) -> timedelta:
    """How long after a quarter-hour boundary a station samples next."""
    return min(sample_interval, MINUTE) if every_minute else sample_interval


def final_instant(
    last_boundary: datetime, sample_interval: timedelta, every_minute: bool = False
) -> datetime:
    """The last instant of a run that ends on ``last_boundary``: one sample after it."""
    return last_boundary + first_sample_after_boundary(sample_interval, every_minute)


def sample_instants(
    start: datetime, sample_interval: timedelta, every_minute: bool = False
) -> Iterator[tuple[datetime, SampleKind]]:
    """Endless sample instants from ``start`` (a quarter-hour boundary).

    Each quarter-hour boundary and, with ``every_minute``, each minute boundary is a
    ``clock`` sample; every ``sample_interval`` after a quarter-hour boundary within the
    quarter-hour is a ``periodic`` one (``clock`` where it falls on a minute boundary
    that is sampled anyway).

    >>> grid = sample_instants(datetime(2026, 1, 15, 10, tzinfo=UTC), timedelta(minutes=7))
    >>> [(t.strftime("%H:%M"), kind) for t, kind in [next(grid) for _ in range(4)]]
    [('10:00', 'clock'), ('10:07', 'periodic'), ('10:14', 'periodic'), ('10:15', 'clock')]
    >>> start = datetime(2026, 1, 15, 10, tzinfo=UTC)
    >>> grid = sample_instants(start, timedelta(seconds=40), every_minute=True)
    >>> [t.strftime("%M:%S") + " " + kind for t, kind in [next(grid) for _ in range(5)]]
    ['00:00 clock', '00:40 periodic', '01:00 clock', '01:20 periodic', '02:00 clock']
    """
    check_start(start)
    check_sample_interval(sample_interval)
    boundary = start.astimezone(UTC)
    while True:
        end = boundary + QUARTER_HOUR
        instants: dict[datetime, SampleKind] = {}
        t = boundary + sample_interval
        while t < end:
            instants[t] = "periodic"
            t += sample_interval
        if every_minute:
            instants.update({boundary + k * MINUTE: "clock" for k in range(1, 15)})
        yield boundary, "clock"
        yield from sorted(instants.items())
        boundary = end


class StationSim:
    """All EVSEs of one station on one timeline, stepped instant by instant."""

    def __init__(
        self,
        station: StationSpec,
        start: datetime,
        sample_interval: timedelta,
        planner: SessionPlanner = plan_sessions,
    ) -> None:
        """Begin at ``start`` (a quarter-hour boundary), before its first instant.

        ``sample_interval`` is the run's; the station's own ``sampling.period`` wins.
        """
        self.station = station
        self.evses = {e.evse_id: EvseSim(e, planner(e, start), start) for e in station.evses}
        self.sample_interval = station.sampling.period or sample_interval
        self.every_minute = station.sampling.every_minute
        self._grid = sample_instants(start, self.sample_interval, self.every_minute)
        self._grid_next = next(self._grid)
        self._offline = [(start + o.after, start + o.after + o.lasting) for o in station.offline]

    def final_instant(self, last_boundary: datetime) -> datetime:
        """The station's last instant in a run that ends on ``last_boundary``."""
        return final_instant(last_boundary, self.sample_interval, self.every_minute)

    def offline_until(self, t: datetime) -> datetime | None:
        """The end of the offline window ``t`` falls in (the station sends then), or None."""
        for window_start, window_end in self._offline:
            if window_start <= t < window_end:
                return window_end
        return None

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
                    steps.append(self._mark(step))
        return t, steps

    def _mark(self, step: EvseStep) -> EvseStep:
        if self.offline_until(step.ts) is not None:
            return replace(step, offline=True)
        return step

    def end_sessions(self, reason: EndReason) -> list[EvseStep]:
        """End every running session at the current instant (e.g. at shutdown)."""
        steps = [sim.end_session(reason) for sim in self.evses.values()]
        return [self._mark(s) for s in steps if s is not None]

    def refuse(self, evse_id: int) -> EvseStep | None:
        """End the session the CSMS just refused on ``evse_id``; the EV takes no energy."""
        step = self.evses[evse_id].end_session("refused")
        return None if step is None else self._mark(step)


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
    last = sim.final_instant(last_boundary)
    out: list[EvseStep] = []
    while sim.peek() <= last:
        out += sim.step()[1]
    return out + sim.end_sessions("shutdown")
