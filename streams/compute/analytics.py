"""The analytics a worker runs over meter.samples after the site load, in order.

Each is a ``Computation`` (``streams.compute.computation``) with its own keyed state,
output topic and warehouse view; one that reads another's records comes after it.
"""

from __future__ import annotations

from gridstream.records import MeterSample
from gridstream.settings import Settings
from streams.compute.compliance import Compliance, ComplianceConfig
from streams.compute.computation import Computation
from streams.compute.energy_balance import BalanceConfig, EnergyBalances
from streams.compute.flexibility import SiteFlexibilities
from streams.compute.grid_code import GridCodeChecks, GridCodeConfig
from streams.compute.peak_alerts import PeakAlertConfig, PeakAlerts
from streams.compute.peak_history import PeakHistory, PeakHistoryConfig
from streams.compute.violations import CapacityViolations, ViolationConfig


def analytics(settings: Settings) -> list[Computation[MeterSample]]:
    """The computations after the site load, configured from ``settings``."""
    return [
        PeakAlerts(PeakAlertConfig.from_settings(settings)),
        PeakHistory(PeakHistoryConfig.from_settings(settings)),
        CapacityViolations(ViolationConfig.from_settings(settings)),
        EnergyBalances(BalanceConfig.from_settings(settings)),
        SiteFlexibilities(),
        Compliance(ComplianceConfig.from_settings(settings)),
        GridCodeChecks(GridCodeConfig.from_settings(settings)),
    ]
