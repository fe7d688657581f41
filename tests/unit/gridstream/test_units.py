"""Unit rules: one place converts protocol units to canonical SI units."""

from __future__ import annotations

import pytest

from gridstream.units import UnknownUnitError, default_unit, to_canonical


@pytest.mark.parametrize(
    ("value", "unit", "multiplier", "expected"),
    [
        (15.234, "kWh", 0, (15234.0, "Wh")),  # k-prefix
        (1.112, "Wh", 3, (1112.0, "Wh")),  # 2.x multiplier: 1.112 x 10^3
        (1.5, "kWh", -3, (1.5, "Wh")),  # both at once: 1.5 kWh x 10^-3 = 1.5 Wh
        (7.4, "kW", 0, (7400.0, "W")),
        (50.0, "Hertz", 0, (50.0, "Hz")),  # OCPP 1.6 errata 3.84 spelling
        (49980, "mHz", 0, (49.98, "Hz")),  # OCPP 2.1 millihertz
        (80, "percent", 0, (80.0, "%")),  # case varies in the field
        (25.0, "Celsius", 0, (298.15, "K")),
    ],
)
def test_values_are_converted_to_their_canonical_unit(
    value: float, unit: str, multiplier: int, expected: tuple[float, str]
) -> None:
    assert to_canonical(value, unit, multiplier) == pytest.approx(expected)


def test_unknown_unit_is_an_error_that_lists_the_known_ones() -> None:
    with pytest.raises(UnknownUnitError, match="furlong.*known: "):
        to_canonical(1.0, "furlong")


@pytest.mark.parametrize(
    ("measurand", "unit"),
    [
        ("Energy.Active.Import.Register", "Wh"),
        ("Energy.Reactive.Export.Interval", "varh"),
        ("Power.Active.Export", "W"),
        ("Current.Import", "A"),
        ("Voltage", "V"),
        ("Frequency", "Hz"),
        ("SoC", "Percent"),
        ("Display.PresentSOC", "Percent"),
        ("Display.RemainingTimeToTargetSOC", "s"),
    ],
)
def test_a_measurand_without_unit_gets_the_unit_the_protocol_implies(
    measurand: str, unit: str
) -> None:
    assert default_unit(measurand) == unit
