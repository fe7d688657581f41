"""Plain-Python computations of the stream: no Faust, Kafka or DuckDB (STYLE.md rule 9).

Each maps ``(state, inputs)`` to ``(state, outputs)``; the Faust shells in ``streams/agents``
and the warehouse backfill call the same functions.

- ``quarter_hour``: one meter series' quarter-hour energy (register or interval energies).
- ``meter_registers``: energy readings (registers, interval energies) out of ``MeterSample``s.
- ``site_load``: a site's ``QuarterHourLoad`` as the sum of its meters.
- ``peaks``: a site's monthly quarter-hour ``Peak``.
- ``processor``: the per-site chain of all four, for a batch of samples.
"""

from streams.compute.meter_registers import (
    EXPORT_REGISTER,
    IMPORT_REGISTER,
    energy_points,
    sample_registers,
)
from streams.compute.peaks import PeakState, monthly_peaks
from streams.compute.processor import (
    BatchStep,
    Rejection,
    SiteConfig,
    SiteState,
    SiteStep,
    process_batch,
    process_samples,
)
from streams.compute.quarter_hour import (
    IntervalEnergy,
    MeterKey,
    QuarterHourConfig,
    RegisterPoint,
    RegisterState,
    RegisterStep,
    add_readings,
    energy_of_intervals,
    register_at,
)
from streams.compute.site_load import SiteLoadState, site_quarter_hour

__all__ = [
    "EXPORT_REGISTER",
    "IMPORT_REGISTER",
    "BatchStep",
    "IntervalEnergy",
    "MeterKey",
    "PeakState",
    "QuarterHourConfig",
    "Rejection",
    "RegisterPoint",
    "RegisterState",
    "RegisterStep",
    "SiteConfig",
    "SiteLoadState",
    "SiteState",
    "SiteStep",
    "add_readings",
    "energy_points",
    "energy_of_intervals",
    "monthly_peaks",
    "process_batch",
    "process_samples",
    "register_at",
    "sample_registers",
    "site_quarter_hour",
]
