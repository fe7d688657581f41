"""Charging sessions: when EVs arrive and leave, what they want, and how much power they take.

Pure: a session plan is drawn from ``random.Random(evse.seed)``, so it depends only on the
EVSE and the start time. The power curve is CC/CV-like: full power up to ``taper_from_pct``
of state of charge, then falling linearly towards a tenth of it at 100 %, and nothing once
the EV's target is reached. A session on a bidirectional EVSE may hold a discharge window
during which the EV feeds power back (V2X), down to a minimum state of charge.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias

from simulator.fleet import EvseSpec
from simulator.quirks import Visit

#: Share of the maximum power left at 100 % state of charge (end of the CV phase).
TAPER_FLOOR_SHARE = 0.1


@dataclass(frozen=True)
class Discharge:
    """A V2X discharge window ``[start, end)``.

    ``power_w`` (positive) is fed back to the grid until the battery is down to
    ``min_soc_pct``.
    """

    start: datetime
    end: datetime
    power_w: float
    min_soc_pct: float


@dataclass(frozen=True)
class Session:
    """One EV's visit: plugged in over ``[arrival, departure)``.

    ``session_id`` is a UUID string, unique per session; ``transaction_id`` is the 2.x
    transactionId the station sends for it (``session_id`` unless the station reuses an
    earlier one). ``efficiency`` is the share of grid energy that reaches the battery (and
    of battery energy that reaches the grid).
    """

    session_id: str
    arrival: datetime
    departure: datetime
    id_token: str
    capacity_wh: float
    soc_start_pct: float
    soc_target_pct: float
    ev_max_power_w: float
    taper_from_pct: float
    efficiency: float = 0.92
    discharge: Discharge | None = None
    transaction_id: str = ""
    #: A limit the station reports for the session's first hour but does not apply.
    ems_limit_w: float | None = None

    def __post_init__(self) -> None:
        """Refuse sessions that end before they start."""
        if self.departure <= self.arrival:
            raise ValueError(
                f"session {self.session_id}: departure {self.departure} is not after "
                f"arrival {self.arrival}"
            )
        if not self.transaction_id:
            object.__setattr__(self, "transaction_id", self.session_id)


SessionPlanner: TypeAlias = Callable[[EvseSpec, datetime], Iterator[Session]]
"""Sessions of one EVSE, in order of arrival, all arriving at or after the given start."""


def charge_power_w(max_power_w: float, soc_pct: float, taper_from_pct: float) -> float:
    """Power an EV takes at ``soc_pct``: constant, then a linear taper (CC/CV-like).

    Below ``taper_from_pct`` the EV takes ``max_power_w``; above it the power falls linearly
    to ``TAPER_FLOOR_SHARE`` of it at 100 %. Whole watts.

    >>> charge_power_w(50_000, 40, 80)
    50000.0
    >>> charge_power_w(50_000, 90, 80)  # halfway down the taper: 50 kW x (1 - 0.9 x 0.5)
    27500.0
    >>> charge_power_w(50_000, 100, 80)
    5000.0
    """
    if soc_pct <= taper_from_pct:
        return float(max_power_w)
    progress = min(1.0, (soc_pct - taper_from_pct) / (100.0 - taper_from_pct))
    return float(round(max_power_w * (1.0 - (1.0 - TAPER_FLOOR_SHARE) * progress)))


def session_power_w(session: Session, evse: EvseSpec, soc_pct: float, ts: datetime) -> float:
    """Signed power in force from ``ts`` (import positive, export negative), in W.

    Inside the discharge window the EV exports (until its minimum state of charge);
    otherwise it charges along the curve until it reaches its target, then takes nothing.
    """
    window = session.discharge
    if window is not None and window.start <= ts < window.end:
        if soc_pct <= window.min_soc_pct:
            return 0.0
        return -min(window.power_w, evse.spec.max_discharge_w)
    if soc_pct >= session.soc_target_pct:
        return 0.0
    max_power_w = min(evse.spec.max_power_w, session.ev_max_power_w)
    return charge_power_w(max_power_w, soc_pct, session.taper_from_pct)


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    """A whole number of seconds between ``low`` and ``high`` minutes."""
    return timedelta(seconds=rng.randint(int(low * 60), int(high * 60)))


def _visit_session(
    rng: random.Random, evse: EvseSpec, start: datetime, visit: Visit, previous: Session | None
) -> Session:
    """The session of a planned ``visit`` (times are offsets from ``start``)."""
    window = visit.discharge
    session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return Session(
        session_id=session_id,
        arrival=start + visit.arrive_after,
        departure=start + visit.arrive_after + visit.stay,
        id_token=f"{rng.getrandbits(56):014X}",
        capacity_wh=visit.capacity_wh,
        soc_start_pct=visit.soc_start_pct,
        soc_target_pct=visit.soc_target_pct,
        ev_max_power_w=visit.ev_max_power_w,
        taper_from_pct=visit.taper_from_pct,
        efficiency=0.95 if evse.spec.dc else 0.9,
        discharge=None
        if window is None
        else Discharge(
            start=start + window.after,
            end=start + window.after + window.lasting,
            power_w=window.power_w,
            min_soc_pct=window.min_soc_pct,
        ),
        transaction_id=previous.transaction_id
        if visit.reuse_transaction_id and previous is not None
        else session_id,
        ems_limit_w=visit.ems_limit_w,
    )


def plan_sessions(evse: EvseSpec, start: datetime) -> Iterator[Session]:
    """The EVSE's sessions from ``start`` on, drawn from ``random.Random(evse.seed)``.

    Endless; arrivals are at whole seconds. The EVSE's planned visits (``evse.visits``)
    come first, as planned; the drawn sessions follow, the first within 20 minutes of
    ``start`` (5 to 20 minutes after the last visit leaves, if there are visits).

    - AC visits last 40 min to 3 h, DC visits 20 to 50 min, V2X visits 2 to 4 h; EVSEs
      stay idle 5 to 45 min (DC: 3 to 20 min) between visits.
    - On DC 50 kW chargers EVs taper from 60 % and stop at 80 or 90 %; elsewhere they
      taper from 90 % and stop at 80, 90 or 100 %.
    - Four in five V2X visits hold a discharge window (5, 7.4 or 10 kW, 15 to 45 min,
      down to 30 %) that opens 10 to 30 minutes after arrival.
    """
    rng = random.Random(evse.seed)
    kind = evse.spec
    t = start
    previous: Session | None = None
    for visit in evse.visits:
        previous = _visit_session(rng, evse, start, visit, previous)
        yield previous
        t = previous.departure
    t += _minutes(rng, 0, 20) if previous is None else _minutes(rng, 5, 20)
    while True:
        arrival = t
        if evse.bidirectional:
            dwell = _minutes(rng, 120, 240)
        elif kind.dc:
            dwell = _minutes(rng, 20, 50)
        else:
            dwell = _minutes(rng, 40, 180)
        departure = arrival + dwell
        discharge = None
        if evse.bidirectional and rng.random() < 0.8:
            d_start = arrival + _minutes(rng, 10, 30)
            discharge = Discharge(
                start=d_start,
                end=min(d_start + _minutes(rng, 15, 45), departure),
                power_w=float(rng.choice([5000, 7400, 10000])),
                min_soc_pct=30.0,
            )
        yield Session(
            session_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            arrival=arrival,
            departure=departure,
            id_token=f"{rng.getrandbits(56):014X}",
            capacity_wh=float(rng.choice([40_000, 58_000, 64_000, 77_000, 82_000, 100_000])),
            soc_start_pct=float(rng.randint(40, 70) if discharge else rng.randint(10, 50)),
            soc_target_pct=float(
                rng.choice([80, 90])
                if kind.dc and not evse.bidirectional
                else rng.choice([80, 90, 100])
            ),
            ev_max_power_w=float(
                rng.choice([50_000, 100_000, 150_000]) if kind.dc else rng.choice([7360, 11040])
            ),
            taper_from_pct=60.0 if kind.max_power_w > 22_000 else 90.0,
            efficiency=0.95 if kind.dc else 0.9,
            discharge=discharge,
        )
        idle = _minutes(rng, 3, 20) if kind.dc else _minutes(rng, 5, 45)
        t = departure + idle
