"""An EVSE's meter and the EV's battery: registers, phase voltages and currents, SoC.

Pure. Power is held constant between two instants, so the registers grow by exactly
power x duration: import when power is positive, export (V2X) when negative. Registers are
kept in integer watt-seconds (whole watts x whole seconds, no float drift) and read out
truncated to whole Wh, as a meter display shows them; that read-out is what stations send
and the ledger records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

NOMINAL_VOLTAGE_V = 230.0
PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True)
class Registers:
    """Cumulative active energy, import and export, in watt-seconds (exact integers).

    Power is in whole watts and instants in whole seconds, so energy adds up exactly;
    ``read`` gives whole Wh.
    """

    import_ws: int
    export_ws: int = 0

    @classmethod
    def from_wh(cls, import_wh: int, export_wh: int = 0) -> Registers:
        """Registers starting at whole-Wh values."""
        return cls(import_wh * 3600, export_wh * 3600)

    def read(self) -> tuple[int, int]:
        """The registers as the meter shows them: whole Wh, truncated.

        >>> Registers(3600 * 1234 + 3599, 3600 * 5 + 1).read()
        (1234, 5)
        """
        return self.import_ws // 3600, self.export_ws // 3600

    def add(self, energy_ws: int) -> Registers:
        """Registers after ``energy_ws`` flowed: positive imported, negative exported."""
        if energy_ws >= 0:
            return replace(self, import_ws=self.import_ws + energy_ws)
        return replace(self, export_ws=self.export_ws - energy_ws)


def energy_ws(power_w: float, duration: timedelta) -> int:
    """Energy of ``power_w`` held for ``duration``, in whole watt-seconds (signed).

    >>> energy_ws(11_000, timedelta(minutes=15)) // 3600  # 11 kW x 0.25 h = 2,750 Wh
    2750
    """
    return round(power_w * duration.total_seconds())


def integrate(registers: Registers, power_w: float, duration: timedelta) -> Registers:
    """Registers after ``power_w`` (import positive) held for ``duration``.

    11 kW for 15 minutes is 11,000 W x 0.25 h = 2,750 Wh; 7.4 kW of discharge for 30
    minutes adds 3,700 Wh to the export register:

    >>> integrate(Registers.from_wh(1000), 11_000, timedelta(minutes=15)).read()
    (3750, 0)
    >>> integrate(Registers.from_wh(1000, 20), -7_400, timedelta(minutes=30)).read()
    (1000, 3720)
    """
    return registers.add(energy_ws(power_w, duration))


@dataclass(frozen=True)
class Battery:
    """The EV's battery: capacity (Wh) and state of charge (%)."""

    capacity_wh: float
    soc_pct: float

    def grid_wh_to(self, soc_pct: float, efficiency: float) -> float:
        """Grid energy (Wh) that moves the battery to ``soc_pct``.

        Positive to charge (grid energy x efficiency reaches the cells), negative to
        discharge (cell energy x efficiency reaches the grid).

        >>> Battery(50_000, 40).grid_wh_to(80, 0.8)  # 20 kWh into the cells / 0.8
        25000.0
        >>> Battery(50_000, 40).grid_wh_to(30, 0.8)  # 5 kWh out of the cells x 0.8
        -4000.0
        """
        cells_wh = (soc_pct - self.soc_pct) / 100.0 * self.capacity_wh
        return cells_wh / efficiency if cells_wh >= 0 else cells_wh * efficiency

    def after(self, grid_wh: float, efficiency: float) -> Battery:
        """The battery after ``grid_wh`` (import positive, export negative) went through.

        >>> Battery(50_000, 40).after(25_000, 0.8).soc_pct
        80.0
        """
        cells_wh = grid_wh * efficiency if grid_wh >= 0 else grid_wh / efficiency
        return replace(self, soc_pct=self.soc_pct + cells_wh / self.capacity_wh * 100.0)


def phase_voltages_v(ts: datetime, phases: int, seed: int) -> tuple[float, ...]:
    """Phase-to-neutral voltages around 230 V at ``ts``, one per phase, to 0.1 V.

    A slow daily swing (+/- 3 V) and a faster ripple (+/- 1 V), shifted per phase and per
    ``seed`` (the site or EVSE), so the values stay within 226-234 V and are reproducible.
    """
    seconds = ts.timestamp()
    out: list[float] = []
    for p in range(phases):
        shift = p * 2.0 * math.pi / 3.0 + (seed % 997) / 997.0 * 2.0 * math.pi
        daily = 3.0 * math.sin(2.0 * math.pi * seconds / 86_400.0 + shift)
        ripple = 1.0 * math.sin(2.0 * math.pi * seconds / 613.0 + 2.0 * shift)
        out.append(round(NOMINAL_VOLTAGE_V + daily + ripple, 1))
    return tuple(out)


def phase_currents_a(power_w: float, voltages_v: tuple[float, ...]) -> tuple[float, ...]:
    """Current per phase (A, to 0.01 A) for ``|power_w|`` shared evenly over the phases.

    >>> phase_currents_a(11_040, (230.0, 230.0, 230.0))
    (16.0, 16.0, 16.0)
    """
    share_w = abs(power_w) / len(voltages_v)
    return tuple(round(share_w / v, 2) for v in voltages_v)


@dataclass(frozen=True)
class MeterReading:
    """What the meter and the EV report at ``ts``.

    ``import_wh`` / ``export_wh`` are the truncated registers; ``power_w`` is the power in
    force from ``ts`` on (import positive, export negative), rounded to 1 W; voltages and
    currents are per phase (L1, L2, L3 in order); ``soc_pct`` is None without an EV.
    ``meter_no`` counts the meters the EVSE had (0, then 1 after a reset: a new register);
    ``misread_wh`` is the wrong import register the meter shows instead of ``import_wh``
    at this instant (``quirks.Misread``), None when it reads right.
    """

    ts: datetime
    import_wh: int
    export_wh: int
    power_w: float
    voltages_v: tuple[float, ...]
    currents_a: tuple[float, ...]
    soc_pct: float | None
    meter_no: int = 0
    misread_wh: int | None = None
    #: The grid frequency the meter reads (Hz); None for a meter that does not report it.
    frequency_hz: float | None = None

    @property
    def shown_import_wh(self) -> int:
        """The import register as the meter shows it (misread or not)."""
        return self.import_wh if self.misread_wh is None else self.misread_wh

    @property
    def import_power_w(self) -> float:
        """Power drawn from the grid (W, >= 0)."""
        return max(self.power_w, 0.0)

    @property
    def export_power_w(self) -> float:
        """Power fed back to the grid (W, >= 0)."""
        return max(-self.power_w, 0.0)


def reading(
    ts: datetime,
    registers: Registers,
    power_w: float,
    phases: int,
    seed: int,
    soc_pct: float | None,
    meter_no: int = 0,
) -> MeterReading:
    """The meter's reading at ``ts`` (registers truncated, power rounded to 1 W)."""
    import_wh, export_wh = registers.read()
    power = float(round(power_w))
    voltages = phase_voltages_v(ts, phases, seed)
    return MeterReading(
        ts=ts,
        import_wh=import_wh,
        export_wh=export_wh,
        power_w=power,
        voltages_v=voltages,
        currents_a=phase_currents_a(power, voltages),
        soc_pct=None if soc_pct is None else round(soc_pct, 1),
        meter_no=meter_no,
    )
