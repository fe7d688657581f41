"""Which reading of a meter sample is its energy register (DOMAIN.md, Meter values).

The rules, shared by the connectors (a session's start and end register) and the
quarter-hour computation (interval energy):

- The total (the reading without a phase) when the sample has one. Phase readings are parts
  of it and are never added to it.
- Otherwise, when only per-phase readings exist, their sum (one value per phase; ``L1-N``
  counts as ``L1``; ``N`` carries no energy of its own and is skipped).
- A sample may hold the same register twice, with different contexts (``Transaction.Begin``
  and ``Sample.Periodic`` at one instant). They describe one instant, so one value is taken:
  the highest. A register only rises, so the highest is the most recent count, and the rule
  does not depend on the order of the readings (the streaming step applies the same rule
  to readings of one instant from different samples).
- Location: the outlet (``Outlet``, or none given: OCPP's default) is the EVSE's meter; an
  ``Inlet`` reading is used only when the sample has no outlet reading of that register.
  Other locations (``EV``, ``Body``, ``Cable``) are not the EVSE's register and are skipped.
- Only canonical ``Wh`` readings are used (connectors convert kWh at the edge).

Energy.Active.Import.Interval / Export.Interval readings (energy of the sampling interval,
not a register) and power readings are not registers and are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from gridstream.records import Reading

IMPORT_REGISTER: Final = "Energy.Active.Import.Register"
EXPORT_REGISTER: Final = "Energy.Active.Export.Register"

# location -> rank; lower wins. None is OCPP's default location, the outlet.
_LOCATION_RANK: Final[dict[str | None, int]] = {None: 0, "Outlet": 0, "Inlet": 1}


def _register_value(readings: Sequence[Reading], measurand: str) -> float | None:
    # best[(rank, phase)] = highest value; phase None is the total.
    best: dict[tuple[int, str | None], float] = {}
    for r in readings:
        if r.measurand != measurand or r.unit != "Wh" or r.value is None:
            continue
        rank = _LOCATION_RANK.get(r.location)
        if rank is None:
            continue
        phase = r.phase
        if phase is not None:
            if phase.endswith("-N"):
                phase = phase[:-2]
            if phase == "N":
                continue
        key = (rank, phase)
        value = best.get(key)
        if value is None or r.value > value:
            best[key] = r.value
    if not best:
        return None
    rank = min(k[0] for k in best)
    total = best.get((rank, None))
    if total is not None:
        return total
    return sum(v for (k_rank, _), v in sorted(best.items(), key=_phase_order) if k_rank == rank)


def _phase_order(item: tuple[tuple[int, str | None], float]) -> str:
    return item[0][1] or ""


def sample_registers(readings: Sequence[Reading]) -> tuple[float | None, float | None]:
    """The (import, export) register totals of one sample's readings, in Wh; None if absent.

    >>> from gridstream.records import Reading
    >>> parts = [Reading(measurand=IMPORT_REGISTER, value=v, unit="Wh", phase=p)
    ...          for v, p in ((100.0, "L1"), (110.0, "L2"), (120.0, "L3"))]
    >>> sample_registers(parts)
    (330.0, None)
    """
    # Fast path, one pass: an outlet total in Wh wins over everything else of its register.
    totals: dict[str, float] = {}
    others: set[str] = set()  # registers that also have parts or other locations
    for r in readings:
        m = r.measurand
        if m != IMPORT_REGISTER and m != EXPORT_REGISTER:
            continue
        value = r.value
        if (
            r.phase is None
            and r.unit == "Wh"
            and value is not None
            and (r.location is None or r.location == "Outlet")
        ):
            if m not in totals or value > totals[m]:
                totals[m] = value
        else:
            others.add(m)
    imported, exported = totals.get(IMPORT_REGISTER), totals.get(EXPORT_REGISTER)
    if imported is None and IMPORT_REGISTER in others:
        imported = _register_value(readings, IMPORT_REGISTER)
    if exported is None and EXPORT_REGISTER in others:
        exported = _register_value(readings, EXPORT_REGISTER)
    return imported, exported
