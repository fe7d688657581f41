"""OCPI charging periods -> canonical readings (CdrDimensionType, OCPI 2.2.1 mod_cdrs).

A charging period ``{start_date_time, dimensions[{type, volume}]}`` lasts until the next
period starts (or the session ends). Its dimensions become readings as follows:

- Energy (ENERGY net, ENERGY_IMPORT, ENERGY_EXPORT) is the energy *of the period*. The
  session's periods add up to cumulative registers: ``Energy.Active.Import.Register`` and
  ``Energy.Active.Export.Register`` at each period start are the session's energy before it
  (0 at the first), and at the session end its total. A register reading at instant ``t``
  depends only on the periods that start before ``t``, so the same session sent again
  gives the same readings, which the stream core and ``meter_readings`` count once.
- V2X signs (PROTOCOLS.md §5, §7): ENERGY below 0 is net export; ENERGY_IMPORT below 0
  (some partners send discharge that way) is export; ENERGY_EXPORT is counted by its
  magnitude whatever its sign. POWER and CURRENT below 0 are export (``*.Export``).
- POWER (avg kW), CURRENT (avg A), STATE_OF_CHARGE (%), MAX/MIN_CURRENT (A) and
  MAX/MIN_POWER (kW) are readings at the period start, in W, A and %.
- PARKING_TIME, RESERVATION_TIME and TIME (hours) are not meter data and are left out.

Units come from ``gridstream.units`` (the one place for unit rules). ENERGY volumes are
kWh by the spec, but the official examples (and some partners) send Wh: the session's
``kwh`` total decides (``energy_unit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from connectors.ocpi.wire import WireError, number, objects, parse_datetime
from gridstream.records import Reading
from gridstream.units import to_canonical

#: Readings are periodic samples of the partner's meter, as OCPP's default context.
CONTEXT: Final = "Sample.Periodic"

IMPORT_REGISTER: Final = "Energy.Active.Import.Register"
EXPORT_REGISTER: Final = "Energy.Active.Export.Register"

#: Dimension -> (measurand when >= 0, measurand when < 0 or None to keep the sign, unit).
_INSTANT: Final[dict[str, tuple[str, str | None, str]]] = {
    "POWER": ("Power.Active.Import", "Power.Active.Export", "kW"),
    "CURRENT": ("Current.Import", "Current.Export", "A"),
    "STATE_OF_CHARGE": ("SoC", None, "Percent"),
    "MAX_CURRENT": ("Current.Import.Maximum", None, "A"),
    "MIN_CURRENT": ("Current.Import.Minimum", None, "A"),
    "MAX_POWER": ("Power.Active.Import.Maximum", None, "kW"),
    "MIN_POWER": ("Power.Active.Import.Minimum", None, "kW"),
}
_ENERGY: Final = frozenset({"ENERGY", "ENERGY_IMPORT", "ENERGY_EXPORT"})
_TIMES: Final = frozenset({"PARKING_TIME", "RESERVATION_TIME", "TIME"})
KNOWN_DIMENSIONS: Final = frozenset(_INSTANT) | _ENERGY | _TIMES

EnergyUnit = Literal["kWh", "Wh"]

#: Periods adding up to more than this times the session's ``kwh`` are read as Wh.
_WH_RATIO: Final = 100.0


@dataclass(frozen=True)
class Period:
    """One charging period, read: its start and its dimension volumes by type."""

    start: datetime
    volumes: tuple[tuple[str, float], ...]
    tariff_id: str | None = None

    def energy(self) -> tuple[float, float]:
        """(import, export) volumes of the period, signs normalised (both >= 0), as sent."""
        values = dict(self.volumes)
        if "ENERGY_IMPORT" in values or "ENERGY_EXPORT" in values:
            imp = values.get("ENERGY_IMPORT", 0.0)
            exp = abs(values.get("ENERGY_EXPORT", 0.0))
            if imp < 0:  # discharge sent as negative import
                imp, exp = 0.0, exp + -imp
            return imp, exp
        net = values.get("ENERGY", 0.0)
        return (net, 0.0) if net >= 0 else (0.0, -net)

    def has_energy(self) -> bool:
        """Whether the period carries any energy dimension."""
        return any(t in _ENERGY for t, _ in self.volumes)


def read_period(raw: Mapping[str, Any], where: str) -> Period:
    """Read one ChargingPeriod; ``WireError`` names the bad field."""
    start = parse_datetime(raw.get("start_date_time"), f"{where}.start_date_time")
    dims = objects(raw.get("dimensions"), f"{where}.dimensions")
    if not dims:
        raise WireError(f"{where}.dimensions: at least one dimension is required")
    volumes: list[tuple[str, float]] = []
    for k, dim in enumerate(dims):
        kind = dim.get("type")
        if not isinstance(kind, str) or kind not in KNOWN_DIMENSIONS:
            raise WireError(
                f"{where}.dimensions[{k}].type: {kind!r} is not a CdrDimensionType; known: "
                + ", ".join(sorted(KNOWN_DIMENSIONS))
            )
        volumes.append((kind, number(dim.get("volume"), f"{where}.dimensions[{k}].volume")))
    tariff = raw.get("tariff_id")
    return Period(start, tuple(volumes), tariff if isinstance(tariff, str) else None)


def read_periods(value: object, where: str) -> list[Period]:
    """Read a ``charging_periods`` array."""
    return [read_period(p, f"{where}[{k}]") for k, p in enumerate(objects(value, where))]


def energy_unit(periods: Sequence[Period], kwh: float) -> EnergyUnit:
    """The unit the partner's ENERGY volumes are in, reconciled with the ``kwh`` total.

    The spec says kWh; the official example sends 120 and 41000 with ``kwh`` 41.12, which
    add up only in Wh (PROTOCOLS.md §7). Periods that add up to over 100 times ``kwh`` cannot
    be kWh (a stale ``kwh`` lags by far less than that).

    >>> p = [Period(datetime(2015, 6, 29), (("ENERGY", 120.0),)),
    ...      Period(datetime(2015, 6, 29, 1), (("ENERGY", 41000.0),))]
    >>> energy_unit(p, 41.12)
    'Wh'
    >>> energy_unit(p, 0.0)
    'kWh'
    """
    total = sum(sum(p.energy()) for p in periods)
    return "Wh" if kwh > 0 and total > _WH_RATIO * kwh else "kWh"


def instant_readings(period: Period) -> list[Reading]:
    """The non-energy readings of one period, at its start (W, A, %)."""
    out: list[Reading] = []
    for kind, volume in period.volumes:
        if kind not in _INSTANT:
            continue
        positive, negative, unit = _INSTANT[kind]
        measurand = positive if volume >= 0 or negative is None else negative
        magnitude = abs(volume) if negative is not None else volume
        value, canonical = to_canonical(magnitude, unit)
        out.append(Reading(measurand=measurand, value=value, unit=canonical, context=CONTEXT))
    return out


def register_readings(import_wh: float, export_wh: float) -> list[Reading]:
    """Cumulative import and export register readings, Wh."""
    return [
        Reading(measurand=IMPORT_REGISTER, value=import_wh, unit="Wh", context=CONTEXT),
        Reading(measurand=EXPORT_REGISTER, value=export_wh, unit="Wh", context=CONTEXT),
    ]


def readings_by_instant(
    periods: Sequence[Period],
    end: datetime | None,
    unit: EnergyUnit,
    since: datetime | None = None,
) -> dict[datetime, tuple[Reading, ...]]:
    """Every reading a session's periods give, by instant (see the module docstring).

    ``end`` is the session's ``end_date_time`` (None while it runs). Registers appear only
    when some period carries energy. With ``since``, only the instants at or after it are
    built (those before it depend only on earlier periods: a PATCH that appends one period
    costs one period's readings, not the whole session's).

    >>> from datetime import UTC
    >>> t = lambda m: datetime(2026, 1, 1, 10, m, tzinfo=UTC)
    >>> out = readings_by_instant([Period(t(0), (("ENERGY", 1.5), ("POWER", 6.0))),
    ...                            Period(t(15), (("ENERGY", -0.5),))], t(30), "kWh")
    >>> [(ts.minute, [(r.measurand[:17], r.value) for r in rs]) for ts, rs in out.items()]
    ... # doctest: +NORMALIZE_WHITESPACE
    [(0, [('Energy.Active.Imp', 0.0), ('Energy.Active.Exp', 0.0), ('Power.Active.Impo', 6000.0)]),
     (15, [('Energy.Active.Imp', 1500.0), ('Energy.Active.Exp', 0.0)]),
     (30, [('Energy.Active.Imp', 1500.0), ('Energy.Active.Exp', 500.0)])]
    """
    ordered = sorted(periods, key=lambda p: p.start)
    with_energy = any(p.has_energy() for p in ordered)
    out: dict[datetime, tuple[Reading, ...]] = {}
    import_total = export_total = 0.0
    for period in ordered:
        if since is None or period.start >= since:
            readings = register_readings(import_total, export_total) if with_energy else []
            readings += instant_readings(period)
            if readings:
                out[period.start] = tuple(readings)
        imp, exp = period.energy()
        import_total = round(import_total + to_canonical(imp, unit)[0], 6)
        export_total = round(export_total + to_canonical(exp, unit)[0], 6)
    ends_last = end is not None and (not ordered or end > ordered[-1].start)
    if with_energy and end is not None and ends_last and (since is None or end >= since):
        out[end] = tuple(register_readings(import_total, export_total))
    return out
