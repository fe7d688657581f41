"""Energy readings out of meter samples, per meter series.

A meter series is (station_id, evse_id, series): the registers
``Energy.Active.Import.Register`` (grid to EV) and ``Energy.Active.Export.Register`` (V2X
discharge), and the interval energies ``Energy.Active.Import.Interval`` /
``Export.Interval`` (periodic sampling) and their ``@Sample.Clock`` series (clock-aligned).
Which readings of a sample give each is ``gridstream.registers``' rule. ``SERIES`` says
which direction each series measures and which the site sum prefers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from gridstream.periods import to_epoch_ms
from gridstream.records import MeterSample
from gridstream.registers import (
    EXPORT_CLOCK_INTERVAL,
    EXPORT_INTERVAL,
    EXPORT_REGISTER,
    IMPORT_CLOCK_INTERVAL,
    IMPORT_INTERVAL,
    IMPORT_REGISTER,
    sample_energy,
    sample_registers,
)
from streams.compute.quarter_hour import MeterKey, RegisterPoint

__all__ = [
    "EXPORT_CLOCK_INTERVAL",
    "EXPORT_INTERVAL",
    "EXPORT_REGISTER",
    "IMPORT_CLOCK_INTERVAL",
    "IMPORT_INTERVAL",
    "IMPORT_REGISTER",
    "SERIES",
    "energy_points",
    "energy_points_ms",
    "meter_keys",
    "sample_registers",
]

IMPORT: Final = 0
EXPORT: Final = 1

SERIES: Final[dict[str, tuple[int, int]]] = {
    IMPORT_REGISTER: (IMPORT, 0),
    IMPORT_INTERVAL: (IMPORT, 1),
    IMPORT_CLOCK_INTERVAL: (IMPORT, 2),
    EXPORT_REGISTER: (EXPORT, 0),
    EXPORT_INTERVAL: (EXPORT, 1),
    EXPORT_CLOCK_INTERVAL: (EXPORT, 2),
}
"""series -> (direction: ``IMPORT`` 0 or ``EXPORT`` 1, preference: lower is preferred).

A meter that reports one direction in several series (a register and intervals, or
periodic and clock-aligned intervals) measures the same energy in each; the site sum takes
one of them per quarter-hour (``streams.compute.site_load``).
"""


def meter_keys(sample: MeterSample) -> tuple[MeterKey, MeterKey]:
    """The (import, export) register meter keys of a sample's station and EVSE."""
    return (
        (sample.station_id, sample.evse_id, IMPORT_REGISTER),
        (sample.station_id, sample.evse_id, EXPORT_REGISTER),
    )


def energy_points(samples: Sequence[MeterSample]) -> dict[MeterKey, list[RegisterPoint]]:
    """Energy readings of a batch of samples, per meter series, in the samples' order."""
    out: dict[MeterKey, list[RegisterPoint]] = {}
    for sample in samples:
        for series, wh in sample_energy(sample.readings).items():
            key = (sample.station_id, sample.evse_id, series)
            out.setdefault(key, []).append(RegisterPoint(sample.ts, wh))
    return out


def energy_points_ms(
    samples: Sequence[MeterSample],
) -> dict[MeterKey, tuple[list[int], list[float], list[int]]]:
    """Hot-path form of ``energy_points``: per meter series, (ts_ms, wh, index of the sample)."""
    out: dict[MeterKey, tuple[list[int], list[float], list[int]]] = {}
    for index, sample in enumerate(samples):
        energy = sample_energy(sample.readings)
        if not energy:
            continue
        t = to_epoch_ms(sample.ts)
        for series in energy:
            key = (sample.station_id, sample.evse_id, series)
            if key in out:
                group = out[key]
            else:
                group = out[key] = ([], [], [])
            group[0].append(t)
            group[1].append(energy[series])
            group[2].append(index)
    return out
