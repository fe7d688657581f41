"""A fleet of simulated OCPP charging stations for gridstream.

``fleet`` describes sites, stations and EVSEs; ``sessions``, ``meter``, ``evse`` and
``timeline`` simulate them (pure, deterministic from a seed); ``quirks`` makes stations
as messy as real ones (sample periods, offline queues, misreads, meter resets, power-only
meters, reused transaction ids); ``ocpp16`` and ``ocpp2`` speak the protocols;
``stations.run_fleet`` runs them all against a CSMS over websockets with accelerated time;
``ledger.Ledger`` keeps the ground truth of what was sent and what the pipeline must make
of it.
"""

from simulator.clock import SimClock
from simulator.errors import BootRefusedError, LedgerError, SimulatorError, StationError
from simulator.fleet import (
    EvseSpec,
    Fleet,
    SiteSpec,
    StationSpec,
    default_fleet,
    small_fleet,
)
from simulator.ledger import Ledger, MisreadRecord, PowerRecord, RegisterRecord, SessionRecord
from simulator.quirks import Discharging, MeterReset, Misread, Offline, Sampling, Visit
from simulator.sessions import Discharge, Session, SessionPlanner, plan_sessions
from simulator.stations import SimOptions, run_fleet
from simulator.timeline import simulate

__all__ = [
    "BootRefusedError",
    "Discharge",
    "Discharging",
    "EvseSpec",
    "Fleet",
    "Ledger",
    "LedgerError",
    "MeterReset",
    "Misread",
    "MisreadRecord",
    "Offline",
    "PowerRecord",
    "RegisterRecord",
    "Sampling",
    "Session",
    "SessionPlanner",
    "SessionRecord",
    "SimClock",
    "SimOptions",
    "SimulatorError",
    "SiteSpec",
    "StationError",
    "StationSpec",
    "Visit",
    "default_fleet",
    "plan_sessions",
    "run_fleet",
    "simulate",
    "small_fleet",
]
