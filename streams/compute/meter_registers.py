"""Energy register readings out of meter samples, per meter.

A meter is (station_id, evse_id, register measurand); the two registers read here are
``Energy.Active.Import.Register`` (grid to EV) and ``Energy.Active.Export.Register`` (V2X
discharge). Which reading of a sample is the register is ``gridstream.registers``' rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from gridstream.periods import to_epoch_ms
from gridstream.records import MeterSample
from gridstream.registers import EXPORT_REGISTER, IMPORT_REGISTER, sample_registers
from streams.compute.quarter_hour import MeterKey, RegisterPoint

__all__ = [
    "EXPORT_REGISTER",
    "IMPORT_REGISTER",
    "meter_keys",
    "register_points",
    "register_points_ms",
    "sample_registers",
]


def meter_keys(sample: MeterSample) -> tuple[MeterKey, MeterKey]:
    """The (import, export) meter keys of a sample's station and EVSE."""
    return (
        (sample.station_id, sample.evse_id, IMPORT_REGISTER),
        (sample.station_id, sample.evse_id, EXPORT_REGISTER),
    )


def register_points(samples: Sequence[MeterSample]) -> dict[MeterKey, list[RegisterPoint]]:
    """Register readings of a batch of samples, per meter, in the samples' order."""
    out: dict[MeterKey, list[RegisterPoint]] = {}
    for sample in samples:
        imported, exported = sample_registers(sample.readings)
        import_key, export_key = meter_keys(sample)
        if imported is not None:
            out.setdefault(import_key, []).append(RegisterPoint(sample.ts, imported))
        if exported is not None:
            out.setdefault(export_key, []).append(RegisterPoint(sample.ts, exported))
    return out


def register_points_ms(
    samples: Sequence[MeterSample],
) -> dict[MeterKey, tuple[list[int], list[float], list[int]]]:
    """Hot-path form of ``register_points``: per meter, (ts_ms, wh, index of the sample)."""
    out: dict[MeterKey, tuple[list[int], list[float], list[int]]] = {}
    for index, sample in enumerate(samples):
        imported, exported = sample_registers(sample.readings)
        if imported is None and exported is None:
            continue
        t = to_epoch_ms(sample.ts)
        if imported is not None:
            key = (sample.station_id, sample.evse_id, IMPORT_REGISTER)
            group = out.get(key)
            if group is None:
                group = out[key] = ([], [], [])
            group[0].append(t)
            group[1].append(imported)
            group[2].append(index)
        if exported is not None:
            key = (sample.station_id, sample.evse_id, EXPORT_REGISTER)
            group = out.get(key)
            if group is None:
                group = out[key] = ([], [], [])
            group[0].append(t)
            group[1].append(exported)
            group[2].append(index)
    return out
