"""Which readings of a meter sample are its energy (DOMAIN.md, Meter values).

A sample can carry a meter's energy in two forms: a cumulative register
(``Energy.Active.Import.Register`` / ``Export.Register``) or the energy of the sampling
interval that ends at the sample (``Energy.Active.Import.Interval`` / ``Export.Interval``,
OCPP 1.6 errata 3.77). Each form, per direction, is one *series* of the meter;
``sample_energy`` gives the value of every series a sample holds, ``sample_registers``
the two registers alone (the connectors' session start and end).

The rules, alike for registers and intervals:

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
  ``Inlet`` reading is used only when the sample has no outlet reading of that series.
  Other locations (``EV``, ``Body``, ``Cable``) are not the EVSE's meter and are skipped.
- Only canonical ``Wh`` readings are used (connectors convert kWh at the edge).

Interval energy and its context: the length of an interval is that of the context's
sampling (errata 3.77: ``Sample.Periodic`` every MeterValueSampleInterval, ``Sample.Clock``
every ClockAlignedDataInterval). A station configured to send both would count the same
energy twice in one series, so they are two series: ``Sample.Periodic`` (or no context) is
``IMPORT_INTERVAL`` / ``EXPORT_INTERVAL``, ``Sample.Clock`` is ``IMPORT_CLOCK_INTERVAL`` /
``EXPORT_CLOCK_INTERVAL``, and the site sum takes one series per meter and direction
(``streams.compute.site_load``). Interval readings of other contexts (``Transaction.Begin``,
``Transaction.End``, ``Trigger``, ``Interruption.*``, ``Other``) are skipped: their interval
is not the span since the meter's previous sample, and counting them would count part of
the next periodic interval twice.

Power readings are not energy and ``sample_energy`` skips them; ``sample_power`` reads them
for meters that report power and no energy (``IMPORT_POWER`` / ``EXPORT_POWER`` series).
Other measurands are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from gridstream.records import Reading

IMPORT_REGISTER: Final = "Energy.Active.Import.Register"
EXPORT_REGISTER: Final = "Energy.Active.Export.Register"
IMPORT_INTERVAL: Final = "Energy.Active.Import.Interval"
EXPORT_INTERVAL: Final = "Energy.Active.Export.Interval"
CLOCK_CONTEXT: Final = "Sample.Clock"
PERIODIC_CONTEXT: Final = "Sample.Periodic"
IMPORT_CLOCK_INTERVAL: Final = f"{IMPORT_INTERVAL}@{CLOCK_CONTEXT}"
"""The series of clock-aligned import intervals (not a measurand: a measurand and context)."""
EXPORT_CLOCK_INTERVAL: Final = f"{EXPORT_INTERVAL}@{CLOCK_CONTEXT}"
"""The series of clock-aligned export intervals."""

IMPORT_POWER: Final = "Power.Active.Import"
"""The series of a power-only meter's import power (W): integrated, flagged estimated."""
EXPORT_POWER: Final = "Power.Active.Export"

POWER_SERIES: Final = frozenset({IMPORT_POWER, EXPORT_POWER})
"""Series whose values are power (W), used only where a sample carries no energy."""

INTERVAL_SERIES: Final = frozenset(
    {IMPORT_INTERVAL, EXPORT_INTERVAL, IMPORT_CLOCK_INTERVAL, EXPORT_CLOCK_INTERVAL}
)
"""Series whose values are the energy of one interval each, not a cumulative count."""

# series -> (measurand, contexts it takes; None: any)
_SOURCE: Final[dict[str, tuple[str, tuple[str | None, ...] | None]]] = {
    IMPORT_REGISTER: (IMPORT_REGISTER, None),
    EXPORT_REGISTER: (EXPORT_REGISTER, None),
    IMPORT_INTERVAL: (IMPORT_INTERVAL, (None, PERIODIC_CONTEXT)),
    EXPORT_INTERVAL: (EXPORT_INTERVAL, (None, PERIODIC_CONTEXT)),
    IMPORT_CLOCK_INTERVAL: (IMPORT_INTERVAL, (CLOCK_CONTEXT,)),
    EXPORT_CLOCK_INTERVAL: (EXPORT_INTERVAL, (CLOCK_CONTEXT,)),
    IMPORT_POWER: (IMPORT_POWER, None),
    EXPORT_POWER: (EXPORT_POWER, None),
}

# interval measurand -> {context: series}
_INTERVAL_SERIES_OF: Final[dict[str, dict[str | None, str]]] = {
    IMPORT_INTERVAL: {
        None: IMPORT_INTERVAL,
        PERIODIC_CONTEXT: IMPORT_INTERVAL,
        CLOCK_CONTEXT: IMPORT_CLOCK_INTERVAL,
    },
    EXPORT_INTERVAL: {
        None: EXPORT_INTERVAL,
        PERIODIC_CONTEXT: EXPORT_INTERVAL,
        CLOCK_CONTEXT: EXPORT_CLOCK_INTERVAL,
    },
}

# location -> rank; lower wins. None is OCPP's default location, the outlet.
_LOCATION_RANK: Final[dict[str | None, int]] = {None: 0, "Outlet": 0, "Inlet": 1}


def _series_value(readings: Sequence[Reading], series: str) -> float | None:
    measurand, contexts = _SOURCE[series]
    unit = "W" if series in POWER_SERIES else "Wh"
    # best[(rank, phase)] = highest value; phase None is the total.
    best: dict[tuple[int, str | None], float] = {}
    for r in readings:
        if r.measurand != measurand or r.unit != unit or r.value is None:
            continue
        if contexts is not None and r.context not in contexts:
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


def sample_energy(readings: Sequence[Reading]) -> dict[str, float]:
    """The energy series of one sample's readings: series name -> Wh, only those present.

    Series names are ``IMPORT_REGISTER``, ``EXPORT_REGISTER``, ``IMPORT_INTERVAL``,
    ``EXPORT_INTERVAL``, ``IMPORT_CLOCK_INTERVAL`` and ``EXPORT_CLOCK_INTERVAL``.

    >>> from gridstream.records import Reading
    >>> energy = sample_energy([
    ...     Reading(measurand=IMPORT_REGISTER, value=5_000.0, unit="Wh"),
    ...     Reading(measurand=IMPORT_INTERVAL, value=12.0, unit="Wh"),
    ...     Reading(measurand=IMPORT_INTERVAL, value=180.0, unit="Wh", context="Sample.Clock"),
    ... ])
    >>> for series, wh in energy.items():
    ...     print(series, wh)
    Energy.Active.Import.Register 5000.0
    Energy.Active.Import.Interval 12.0
    Energy.Active.Import.Interval@Sample.Clock 180.0
    """
    # Fast path, one pass: an outlet total in Wh wins over everything else of its series.
    totals: dict[str, float] = {}
    others: list[str] | None = None  # series that also have parts or other locations
    for r in readings:
        # operators, not calls: most readings are not energy and must cost next to nothing
        series = r.measurand
        if series != IMPORT_REGISTER and series != EXPORT_REGISTER:
            if series not in _INTERVAL_SERIES_OF:
                continue
            by_context = _INTERVAL_SERIES_OF[series]
            context = r.context
            if context not in by_context:
                continue
            series = by_context[context]
        value = r.value
        if (
            r.phase is None
            and r.unit == "Wh"
            and value is not None
            and (r.location is None or r.location == "Outlet")
        ):
            held = totals.get(series)
            if held is None or value > held:
                totals[series] = value
        elif others is None:
            others = [series]
        else:
            others.append(series)
    if others is not None:
        for series in others:
            if series not in totals:
                value = _series_value(readings, series)
                if value is not None:
                    totals[series] = value
    return totals


def sample_registers(readings: Sequence[Reading]) -> tuple[float | None, float | None]:
    """The (import, export) register totals of one sample's readings, in Wh; None if absent.

    >>> from gridstream.records import Reading
    >>> parts = [Reading(measurand=IMPORT_REGISTER, value=v, unit="Wh", phase=p)
    ...          for v, p in ((100.0, "L1"), (110.0, "L2"), (120.0, "L3"))]
    >>> sample_registers(parts)
    (330.0, None)
    """
    energy = sample_energy(readings)
    return energy.get(IMPORT_REGISTER), energy.get(EXPORT_REGISTER)


def sample_power(readings: Sequence[Reading], series: str) -> float | None:
    """The power (W) of one sample in ``IMPORT_POWER`` or ``EXPORT_POWER``; None if absent.

    The same rules as energy: the outlet total, else the sum of its phases, else the inlet.
    A power-only meter's energy is integrated from it (DOMAIN.md, Intervals and energy).

    >>> from gridstream.records import Reading
    >>> sample_power([Reading(measurand=IMPORT_POWER, value=v, unit="W", phase=p)
    ...               for v, p in ((3680.0, "L1-N"), (3680.0, "L2-N"))], IMPORT_POWER)
    7360.0
    """
    return _series_value(readings, series)
