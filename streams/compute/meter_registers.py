"""Energy readings out of meter samples, per meter series.

A meter series is (station_id, evse_id, transaction_id, series): the registers
``Energy.Active.Import.Register`` (grid to EV) and ``Energy.Active.Export.Register`` (V2X
discharge), the interval energies ``Energy.Active.Import.Interval`` / ``Export.Interval``
(periodic sampling) and their ``@Sample.Clock`` series (clock-aligned), and, for a sample
that carries no energy in a direction, its power ``Power.Active.Import`` / ``Export``
(a power-only meter, integrated). Which readings of a sample give each is
``gridstream.registers``' rule. ``SERIES`` says which direction each series measures and
which the site sum prefers.

A sample whose EVSE is unknown (None) is its transaction's meter: the transaction id goes
into the key, so that two transactions' registers are never differenced (DOMAIN.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from gridstream.periods import to_epoch_ms
from gridstream.records import MeterSample
from gridstream.registers import (
    EXPORT_CLOCK_INTERVAL,
    EXPORT_INTERVAL,
    EXPORT_POWER,
    EXPORT_REGISTER,
    IMPORT_CLOCK_INTERVAL,
    IMPORT_INTERVAL,
    IMPORT_POWER,
    IMPORT_REGISTER,
    sample_energy,
    sample_power,
    sample_registers,
)
from streams.compute.quarter_hour import MeterKey, RegisterPoint

__all__ = [
    "EXPORT_CLOCK_INTERVAL",
    "EXPORT_INTERVAL",
    "EXPORT_POWER",
    "EXPORT_REGISTER",
    "IMPORT_CLOCK_INTERVAL",
    "IMPORT_INTERVAL",
    "IMPORT_POWER",
    "IMPORT_REGISTER",
    "SERIES",
    "energy_points",
    "energy_points_ms",
    "meter_key",
    "sample_registers",
]

IMPORT: Final = 0
EXPORT: Final = 1

SERIES: Final[dict[str, tuple[int, int]]] = {
    IMPORT_REGISTER: (IMPORT, 0),
    IMPORT_INTERVAL: (IMPORT, 1),
    IMPORT_CLOCK_INTERVAL: (IMPORT, 2),
    IMPORT_POWER: (IMPORT, 3),
    EXPORT_REGISTER: (EXPORT, 0),
    EXPORT_INTERVAL: (EXPORT, 1),
    EXPORT_CLOCK_INTERVAL: (EXPORT, 2),
    EXPORT_POWER: (EXPORT, 3),
}
"""series -> (direction: ``IMPORT`` 0 or ``EXPORT`` 1, preference: lower is preferred).

A meter that reports one direction in several series (a register and intervals, periodic
and clock-aligned intervals, or power where some samples lack energy) measures the same
energy in each; the site sum takes one of them per quarter-hour
(``streams.compute.site_load``).
"""

# direction -> (its energy series, its power series)
_DIRECTIONS: Final = (
    ((IMPORT_REGISTER, IMPORT_INTERVAL, IMPORT_CLOCK_INTERVAL), IMPORT_POWER),
    ((EXPORT_REGISTER, EXPORT_INTERVAL, EXPORT_CLOCK_INTERVAL), EXPORT_POWER),
)


def meter_key(sample: MeterSample, series: str) -> MeterKey:
    """The meter series of ``sample`` for ``series``: by EVSE, or by transaction when unknown."""
    evse = sample.evse_id
    return (sample.station_id, evse, sample.transaction_id if evse is None else None, series)


def sample_series(sample: MeterSample) -> dict[str, float]:
    """Every series value of one sample: its energy, and its power where it has no energy."""
    values = sample_energy(sample.readings)
    if len(values) >= 2 and IMPORT_REGISTER in values and EXPORT_REGISTER in values:
        return values  # the usual V2X sample: both registers, no power needed
    for (first, second, third), power_series in _DIRECTIONS:
        if first not in values and second not in values and third not in values:
            power = sample_power(sample.readings, power_series)
            if power is not None:
                values[power_series] = power
    return values


def energy_points(samples: Sequence[MeterSample]) -> dict[MeterKey, list[RegisterPoint]]:
    """Readings of a batch of samples, per meter series, in the samples' order."""
    out: dict[MeterKey, list[RegisterPoint]] = {}
    for sample in samples:
        for series, value in sample_series(sample).items():
            out.setdefault(meter_key(sample, series), []).append(RegisterPoint(sample.ts, value))
    return out


def energy_points_ms(
    samples: Sequence[MeterSample],
) -> dict[MeterKey, tuple[list[int], list[float], list[int]]]:
    """Hot-path form of ``energy_points``: per meter series, (ts_ms, value, index of sample)."""
    out: dict[MeterKey, tuple[list[int], list[float], list[int]]] = {}
    for index, sample in enumerate(samples):
        values = sample_series(sample)
        if not values:
            continue
        t = to_epoch_ms(sample.ts)
        evse = sample.evse_id
        transaction = sample.transaction_id if evse is None else None
        station = sample.station_id
        for series, value in values.items():
            key = (station, evse, transaction, series)
            group = out.get(key)
            if group is None:
                group = out[key] = ([], [], [])
            group[0].append(t)
            group[1].append(value)
            group[2].append(index)
    return out
