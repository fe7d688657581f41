"""The stream's computations over stored history in one process: batch beside stream.

The batch side of "streaming equals batch" (issue 16).

The site load and every analytic (``streams.compute.analytics``) run over stored meter
samples in batches, exactly as a worker runs them (one pass, each computation seeing the
records the ones before it made of the batch), with the registry's site entries and the
grid signals as context. What comes out is every record each would have published; the
latest revision per identity is what a warehouse view shows, so the two can be compared
value by value (``latest``). No second implementation of any formula lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from gridstream.records import (
    CapacityTariff,
    CapacityViolation,
    EnergyBalance,
    HighestPeak,
    MeterSample,
    Peak,
    QuarterHourLoad,
    Record,
)
from streams.compute.computation import BatchContext, Computation


def replay(
    samples: Sequence[MeterSample],
    computations: Sequence[Computation[MeterSample]],
    context: BatchContext,
    batch_size: int = 1000,
) -> list[Record]:
    """Every record ``computations`` make of ``samples``, in batches of ``batch_size``."""
    states: dict[str, dict[str, Any]] = {c.name: {} for c in computations}
    out: list[Record] = []
    for i in range(0, len(samples), batch_size):
        chunk = samples[i : i + batch_size]
        made: list[Record] = []
        for computation in computations:
            step = computation.process(
                states[computation.name], chunk, replace(context, upstream=made)
            )
            made = [*made, *step.records]
        out += made
    return out


#: The identity of each compared record type: what its view keeps the latest revision of.
IDENTITY: dict[type[Record], Callable[[Any], Hashable]] = {
    QuarterHourLoad: lambda r: (r.site_id, r.interval_start),
    Peak: lambda r: (r.site_id, r.month),
    HighestPeak: lambda r: (r.site_id, r.station_id, r.evse_id, r.transaction_id),
    CapacityTariff: lambda r: (r.site_id, r.month),
    CapacityViolation: lambda r: r.violation_id,
    EnergyBalance: lambda r: (
        r.scope,
        r.site_id,
        r.station_id,
        r.evse_id,
        r.transaction_id,
        r.interval_start,
    ),  # fmt: skip
}


def latest(records: Iterable[Record], kind: type[Record]) -> dict[Hashable, Record]:
    """The highest revision of each ``kind`` record by its identity (``IDENTITY``)."""
    key = IDENTITY[kind]
    out: dict[Hashable, Record] = {}
    for record in records:
        if type(record) is kind:
            held = out.get(key(record))
            if held is None or record.revision >= held.revision:  # type: ignore[attr-defined]
                out[key(record)] = record
    return out


def differences(
    stream: dict[Hashable, dict[str, Any]],
    batch: dict[Hashable, Record],
    fields: Sequence[str],
    tolerance: float = 1e-6,
) -> list[str]:
    """Where the stream's rows and the batch's records differ in ``fields``, each named."""
    out: list[str] = []
    for key in sorted(stream.keys() | batch.keys(), key=repr):
        s, b = stream.get(key), batch.get(key)
        if s is None or b is None:
            out.append(f"{key}: only in the {'batch' if s is None else 'stream'}")
            continue
        for name in fields:
            left, right = s[name], getattr(b, name)
            if isinstance(left, float | int) and isinstance(right, float | int):
                if abs(left - right) > tolerance:
                    out.append(f"{key}: {name} stream {left} batch {right}")
            elif _normal(left) != _normal(right):
                out.append(f"{key}: {name} stream {left!r} batch {right!r}")
    return out


def _normal(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
