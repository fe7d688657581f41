"""A fleet of simulated OCPP charging stations for gridstream.

``fleet`` describes sites, stations and EVSEs; ``sessions``, ``meter``, ``evse`` and
``timeline`` simulate them (pure, deterministic from a seed); ``ocpp16`` and ``ocpp2``
speak the protocols; ``stations.run_fleet`` runs them all against a CSMS over websockets
with accelerated time; ``ledger.Ledger`` keeps the ground truth of what was sent.
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
from simulator.ledger import Ledger, RegisterRecord, SessionRecord
from simulator.sessions import Discharge, Session, SessionPlanner, plan_sessions
from simulator.stations import SimOptions, run_fleet
from simulator.timeline import simulate

__all__ = [
    "BootRefusedError",
    "Discharge",
    "EvseSpec",
    "Fleet",
    "Ledger",
    "LedgerError",
    "RegisterRecord",
    "Session",
    "SessionPlanner",
    "SessionRecord",
    "SimClock",
    "SimOptions",
    "SimulatorError",
    "SiteSpec",
    "StationError",
    "StationSpec",
    "default_fleet",
    "plan_sessions",
    "run_fleet",
    "simulate",
    "small_fleet",
]
