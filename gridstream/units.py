"""Unit rules: protocol unit, multiplier and value -> canonical SI value.

The one place that knows that kWh is 1000 Wh, that OCPP 2.x ``multiplier`` means
value x 10^multiplier, that 1.6 says ``Hertz`` and ``Percent`` and that unit strings
arrive in any case. Canonical units: W, Wh, var, varh, VA, VAh, V, A, Hz, %, K, s.
"""

from __future__ import annotations

import functools
from typing import Final

from gridstream.records import CanonicalUnit

# protocol unit (lower-cased) -> (canonical unit, scale factor, offset)
_UNITS: Final[dict[str, tuple[CanonicalUnit, float, float]]] = {
    "wh": ("Wh", 1.0, 0.0),
    "kwh": ("Wh", 1000.0, 0.0),
    "mwh": ("Wh", 1_000_000.0, 0.0),
    "varh": ("varh", 1.0, 0.0),
    "kvarh": ("varh", 1000.0, 0.0),
    "vah": ("VAh", 1.0, 0.0),
    "kvah": ("VAh", 1000.0, 0.0),
    "w": ("W", 1.0, 0.0),
    "kw": ("W", 1000.0, 0.0),
    "mw": ("W", 1_000_000.0, 0.0),
    "var": ("var", 1.0, 0.0),
    "kvar": ("var", 1000.0, 0.0),
    "va": ("VA", 1.0, 0.0),
    "kva": ("VA", 1000.0, 0.0),
    "a": ("A", 1.0, 0.0),
    "ma": ("A", 0.001, 0.0),
    "v": ("V", 1.0, 0.0),
    "kv": ("V", 1000.0, 0.0),
    "hz": ("Hz", 1.0, 0.0),
    "hertz": ("Hz", 1.0, 0.0),  # OCPP 1.6 errata 3.84
    "mhz": ("Hz", 0.001, 0.0),  # OCPP 2.1 lists mHz (millihertz)
    "percent": ("%", 1.0, 0.0),
    "%": ("%", 1.0, 0.0),
    "k": ("K", 1.0, 0.0),
    "celsius": ("K", 1.0, 273.15),
    "celcius": ("K", 1.0, 273.15),  # typo in the OCA 1.6 schema
    "fahrenheit": ("K", 5 / 9, 273.15 - 32 * 5 / 9),
    "s": ("s", 1.0, 0.0),
}

#: Unit a measurand has when the station gives none (OCPP 1.6 §7.45; 2.x default Wh).
_DEFAULT_UNIT_BY_PREFIX: Final[tuple[tuple[str, str], ...]] = (
    # OCPP 2.1 display values (SoC in %, remaining times in s, capacity in Wh).
    ("Display.RemainingTime", "s"),
    ("Display.BatteryEnergyCapacity", "Wh"),
    ("Display.ChargingComplete", ""),
    ("Display.InletHot", ""),
    ("Display.", "Percent"),
    ("Energy.Reactive", "varh"),
    ("Energy.Apparent", "VAh"),
    ("Energy", "Wh"),
    ("Power.Reactive", "var"),
    ("Power.Factor", ""),
    ("Power", "W"),
    ("Current", "A"),
    ("Voltage", "V"),
    ("Frequency", "Hz"),
    ("SoC", "Percent"),
    ("Temperature", "Celsius"),
    ("RPM", ""),
)


class UnknownUnitError(ValueError):
    """A unit string gridstream cannot convert."""


@functools.cache  # a few dozen measurands, looked up for every reading without a unit
def default_unit(measurand: str) -> str:
    """The unit a station means when it sends ``measurand`` without one."""
    for prefix, unit in _DEFAULT_UNIT_BY_PREFIX:
        if measurand.startswith(prefix):
            return unit
    return "Wh"


def to_canonical(value: float, unit: str, multiplier: int = 0) -> tuple[float, CanonicalUnit]:
    """Convert ``value`` in ``unit`` (x 10^multiplier) to its canonical unit.

    >>> to_canonical(15.234, "kWh")
    (15234.0, 'Wh')
    >>> to_canonical(1.112, "Wh", multiplier=3)
    (1112.0, 'Wh')
    >>> to_canonical(50.0, "Hertz")
    (50.0, 'Hz')

    Raises ``UnknownUnitError`` for a unit it does not know.
    """
    if unit == "":
        return value * 10.0**multiplier, ""
    try:
        canonical, scale, offset = _UNITS[unit.lower()]
    except KeyError:
        raise UnknownUnitError(
            f"unknown unit {unit!r}; known: {', '.join(sorted(_UNITS))}"
        ) from None
    scaled = value * 10.0**multiplier
    result = scaled * scale + offset
    # Keep integers exact: 15.234 kWh is 15234 Wh, not 15233.999999999998.
    return round(result, 9), canonical


def energy_value(wh: float, price_per_mwh: float) -> float:
    """What ``wh`` of energy costs at a price per MWh (as market prices are published).

    >>> energy_value(2_000.0, 100.0)  # 2 kWh at 100 EUR/MWh
    0.2
    """
    return wh / _UNITS["mwh"][1] * price_per_mwh
