"""The I/O shell: one asyncio task per station, each on its own websocket to the CSMS.

A station connects to ``{url_base}/{station_id}`` with its version's subprotocol, boots, and
then walks its timeline (``timeline.StationSim``): it waits until the simulated clock
reaches the next instant (inside an offline window: the window's end), and reports the
steps there with its version's speaker (``ocpp16.V16Speaker``, ``ocpp2.V2Speaker``), one
answered call at a time. Message content depends only on the fleet, the start, the sample
interval and the session planner; the real clock only decides when it is sent.

The run ends on a quarter-hour boundary ``B`` plus one sample: ``B`` is ``end`` (rounded up
to a quarter-hour), ``start + duration_s x speed`` (likewise), or, when ``stop`` is set
first, the first boundary at or after the simulated time then. After a stop the remaining
instants up to each station's first sample after ``B`` are sent at once, without waiting
for the clock; open sessions end at the last instant (reason Local); then the websockets
close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

import websockets
from ocpp.charge_point import ChargePoint
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v201 import ChargePoint as ChargePoint201
from websockets.typing import Subprotocol

from gridstream.periods import ceil_quarter_hour
from simulator.clock import Monotonic, SimClock
from simulator.errors import StationError
from simulator.fleet import Fleet, OcppVersion, StationSpec
from simulator.ledger import Ledger
from simulator.ocpp2 import V2Speaker
from simulator.ocpp16 import V16Speaker
from simulator.sessions import SessionPlanner, plan_sessions
from simulator.timeline import StationSim, check_sample_interval, check_start
from simulator.wire import StationSpeaker

LOGGER = logging.getLogger(__name__)

_CLIENTS: dict[OcppVersion, type[ChargePoint]] = {
    "1.6": ChargePoint16,
    "2.0.1": ChargePoint201,
    "2.1": ChargePoint21,
}


@dataclass(frozen=True)
class SimOptions:
    """How stations behave on the wire; durations are simulated time."""

    #: Meter samples between quarter-hour boundaries (whole seconds, at most 15 min), for
    #: stations whose ``sampling`` has no period of its own.
    sample_interval: timedelta = timedelta(seconds=60)
    #: A Heartbeat at the first instant this long after the previous one.
    heartbeat_interval: timedelta = timedelta(minutes=10)
    #: Real seconds to wait for a CALLRESULT before the station fails.
    response_timeout_s: float = 30.0
    #: OCPP 2.1 V2X sessions send NotifyEVChargingNeeds after Started (the connector turns
    #: it into an ``ev.charging_needs`` record and answers Accepted).
    charging_needs: bool = True


class _Horizon:
    """The run's last boundary: fixed up front by an end, or when ``stop`` is first seen."""

    def __init__(
        self,
        clock: SimClock,
        stop: asyncio.Event,
        last_boundary: datetime | None,
    ) -> None:
        self._clock = clock
        self._stop = stop
        self._last_boundary = last_boundary
        self._stop_seen = False

    def last_boundary(self) -> datetime | None:
        """``B``, or None while the run has no end yet."""
        if self._stop.is_set() and not self._stop_seen:
            self._stop_seen = True
            at_stop = max(ceil_quarter_hour(self._clock.now()), self._clock.start)
            if self._last_boundary is None or at_stop < self._last_boundary:
                self._last_boundary = at_stop
        return self._last_boundary

    def is_past(self, t: datetime, sim: StationSim) -> bool:
        """Whether ``t`` lies after the last instant of ``sim``'s station in this run."""
        boundary = self.last_boundary()
        return boundary is not None and t > sim.final_instant(boundary)


async def _wait_until(clock: SimClock, t: datetime, stop: asyncio.Event) -> None:
    """Sleep until simulated ``t``, or until ``stop`` is set (then return at once)."""
    delay_s = clock.real_seconds_until(t)
    if delay_s > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay_s)


async def _walk(
    speaker: StationSpeaker,
    sim: StationSim,
    clock: SimClock,
    horizon: _Horizon,
    stop: asyncio.Event,
    options: SimOptions,
) -> None:
    """Boot, report every instant up to the horizon, then end the open sessions.

    An instant inside an offline window is sent when the window ends (with everything
    else queued by then, in order); no Heartbeat goes out while offline.
    """
    await speaker.boot(clock.start)
    last_heartbeat = clock.start
    while not horizon.is_past(sim.peek(), sim):
        due = sim.offline_until(sim.peek()) or sim.peek()
        await _wait_until(clock, due, stop)
        if horizon.is_past(sim.peek(), sim):
            break
        t, steps = sim.step()
        for step in steps:
            if not await speaker.send(step):
                refusal = sim.refuse(step.evse.evse_id)
                if refusal is not None:
                    await speaker.send(refusal)
        if sim.offline_until(t) is None and t - last_heartbeat >= options.heartbeat_interval:
            await speaker.heartbeat()
            last_heartbeat = t
    for step in sim.end_sessions("shutdown"):
        await speaker.send(step)


def station_url(url_base: str, station_id: str) -> str:
    """``{url_base}/{station_id}``, the identity percent-encoded (OCPP-J part 4, 3.1).

    >>> station_url("ws://127.0.0.1:9000/ocpp/", "RDAM|123")
    'ws://127.0.0.1:9000/ocpp/RDAM%7C123'
    """
    return f"{url_base.rstrip('/')}/{quote(station_id, safe='')}"


async def _run_station(
    url_base: str,
    station: StationSpec,
    *,
    clock: SimClock,
    horizon: _Horizon,
    stop: asyncio.Event,
    ledger: Ledger | None,
    options: SimOptions,
    planner: SessionPlanner,
) -> None:
    """Connect one station, walk its timeline, close. Failures raise ``StationError``."""
    url = station_url(url_base, station.station_id)
    sim = StationSim(station, clock.start, options.sample_interval, planner)
    try:
        async with websockets.connect(url, subprotocols=[Subprotocol(station.subprotocol)]) as ws:
            if ws.subprotocol != station.subprotocol:
                raise StationError(
                    f"station {station.station_id}: CSMS at {url} answered subprotocol "
                    f"{ws.subprotocol!r}, expected {station.subprotocol!r}"
                )
            cp = _CLIENTS[station.version](
                station.station_id, ws, response_timeout=options.response_timeout_s
            )
            speaker: StationSpeaker = (
                V16Speaker(cp, station, ledger)
                if station.version == "1.6"
                else V2Speaker(cp, station, ledger, charging_needs=options.charging_needs)
            )
            async with asyncio.TaskGroup() as tasks:
                reader = tasks.create_task(cp.start())
                await _walk(speaker, sim, clock, horizon, stop, options)
                reader.cancel()
    except StationError:
        raise
    except Exception as exc:  # every failure is reported with the station's name
        cause = exc
        if isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
            cause = exc.exceptions[0]
        raise StationError(
            f"station {station.station_id} (OCPP {station.version}) at {url}: {cause!r}"
        ) from exc
    LOGGER.info("station %s done", station.station_id)


async def run_fleet(
    url_base: str,
    fleet: Fleet,
    *,
    speed: float,
    start: datetime,
    ledger: Ledger | None = None,
    end: datetime | None = None,
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    options: SimOptions | None = None,
    planner: SessionPlanner = plan_sessions,
    monotonic: Monotonic = time.monotonic,
) -> None:
    """Run every station of ``fleet`` against the CSMS at ``url_base`` until the run ends.

    ``url_base`` is the endpoint without the identity (``ws://127.0.0.1:9000/ocpp``).
    Simulated time starts at ``start`` (aware, on a quarter-hour) when this is called and
    runs ``speed`` times faster than ``monotonic``. The run ends on the first of: the
    simulated ``end``, ``duration_s`` real seconds (``start + duration_s x speed``
    simulated), or ``stop`` being set; each rounded up to a quarter-hour boundary ``B``,
    and the last instant a station sends is its first sample after ``B`` (module
    docstring). At least one of the three must be given. Every meter value sent and
    answered is recorded in ``ledger``.

    A failing station cancels the others and its ``StationError`` is raised (stations that
    failed at the same moment are named in its notes).
    """
    options = options or SimOptions()
    check_start(start)
    check_sample_interval(options.sample_interval)
    if end is None and duration_s is None and stop is None:
        raise ValueError("run_fleet needs an end, a duration_s or a stop event")
    clock = SimClock(start, speed, monotonic)
    boundaries: list[datetime] = []
    if end is not None:
        if end < start:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        boundaries.append(ceil_quarter_hour(end))
    if duration_s is not None:
        boundaries.append(ceil_quarter_hour(start + timedelta(seconds=duration_s * speed)))
    stop = stop if stop is not None else asyncio.Event()
    horizon = _Horizon(clock, stop, min(boundaries, default=None))
    try:
        async with asyncio.TaskGroup() as tasks:
            for station in fleet.stations:
                tasks.create_task(
                    _run_station(
                        url_base,
                        station,
                        clock=clock,
                        horizon=horizon,
                        stop=stop,
                        ledger=ledger,
                        options=options,
                        planner=planner,
                    )
                )
    except ExceptionGroup as group:
        failure = group.exceptions[0]
        for other in group.exceptions[1:]:
            failure.add_note(f"also failed: {other}")
    else:
        return
    # Raise the first station's StationError unwrapped (the others were cancelled, or
    # failed at the same time and are added as notes).
    raise failure
