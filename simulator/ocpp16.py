"""An OCPP 1.6 station: BootNotification, StatusNotification, Start/StopTransaction, MeterValues.

1.6 has no EVSEs, only connectors numbered from 1 per charge point: EVSE ``n`` is
connector ``n``. Values are strings (PROTOCOLS.md section 2): the import register in Wh
(or kWh with three decimals, for stations configured so), import power in W, current and
phase-to-neutral voltage per phase, and SoC on DC chargers. ``meterStart`` / ``meterStop``
are integer Wh. The CSMS assigns the transactionId (an integer). A 1.6 station queues its
messages while offline and sends them, in order, when it is back: 1.6 has no flag for
that, only the old timestamps tell.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ocpp.v16 import ChargePoint, call
from ocpp.v16.datatypes import MeterValue, SampledValue

from simulator.errors import BootRefusedError
from simulator.evse import EvseStep
from simulator.fleet import EnergyUnit, StationSpec
from simulator.ledger import Ledger
from simulator.meter import MeterReading
from simulator.wire import (
    CURRENT_PHASES,
    SAMPLE_CONTEXT,
    STOP_REASON_16,
    VOLTAGE_PHASES,
    kwh_text,
    wire_time,
)

LOGGER = logging.getLogger(__name__)


def sampled_values(
    meter: MeterReading, context: str, energy_unit: EnergyUnit, with_soc: bool
) -> list[SampledValue]:
    """The 1.6 sampledValue list of one reading, all values as strings.

    The import register is what the meter shows (``shown_import_wh``: a misread too).
    """
    shown_wh = meter.shown_import_wh
    energy = (
        SampledValue(
            value=str(shown_wh),
            context=context,
            measurand="Energy.Active.Import.Register",
            unit="Wh",
        )
        if energy_unit == "Wh"
        else SampledValue(
            value=kwh_text(shown_wh),
            context=context,
            measurand="Energy.Active.Import.Register",
            unit="kWh",
        )
    )
    values = [
        energy,
        SampledValue(
            value=str(int(meter.import_power_w)),
            context=context,
            measurand="Power.Active.Import",
            unit="W",
        ),
    ]
    for phase, amps in zip(CURRENT_PHASES, meter.currents_a, strict=False):
        values.append(
            SampledValue(
                value=f"{amps:.2f}",
                context=context,
                measurand="Current.Import",
                phase=phase,
                unit="A",
            )
        )
    for phase, volts in zip(VOLTAGE_PHASES, meter.voltages_v, strict=False):
        values.append(
            SampledValue(
                value=f"{volts:.1f}", context=context, measurand="Voltage", phase=phase, unit="V"
            )
        )
    if with_soc and meter.soc_pct is not None:
        values.append(
            SampledValue(
                value=f"{meter.soc_pct:.0f}",
                context=context,
                measurand="SoC",
                location="EV",
                unit="Percent",
            )
        )
    return values


class V16Speaker:
    """Speaks OCPP 1.6 for one station over an ``ocpp.v16.ChargePoint`` client."""

    def __init__(self, cp: ChargePoint, station: StationSpec, ledger: Ledger | None) -> None:
        """Use the connected client ``cp``; record answered registers in ``ledger``."""
        self._cp = cp
        self._station = station
        self._ledger = ledger
        self._tx: dict[int, int] = {}

    async def _call(self, payload: Any) -> Any:
        return await self._cp.call(payload, suppress=False)

    async def boot(self, ts: datetime) -> None:
        """BootNotification (must be Accepted), then Available for every connector."""
        s = self._station
        answer = await self._call(
            call.BootNotification(
                charge_point_model=s.model,
                charge_point_vendor=s.vendor,
                charge_point_serial_number=s.serial_number,
                firmware_version=s.firmware_version,
            )
        )
        if answer.status != "Accepted":
            raise BootRefusedError(f"BootNotification answered {answer.status!r}, not Accepted")
        for evse in s.evses:
            await self._status(evse.evse_id, "Available", ts)

    async def heartbeat(self) -> None:
        """One Heartbeat."""
        await self._call(call.Heartbeat())

    async def _status(self, connector_id: int, status: str, ts: datetime) -> None:
        await self._call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code="NoError",
                status=status,
                timestamp=wire_time(ts),
            )
        )

    def _record(self, step: EvseStep) -> None:
        if self._ledger is not None:
            meter = step.reading
            station_id, evse_id = self._station.station_id, step.evse.evse_id
            self._ledger.record_register(
                station_id, evse_id, step.ts, meter.import_wh, meter_no=meter.meter_no
            )
            if meter.misread_wh is not None:
                self._ledger.record_misread(
                    station_id, evse_id, step.ts, meter.misread_wh, meter.import_wh
                )

    async def send(self, step: EvseStep) -> bool:
        """MeterValues, StopTransaction, StartTransaction and status changes of one step.

        Returns False when the CSMS did not accept the id tag of a session started here;
        the caller then ends it (``StationSim.refuse``) and sends that step too.
        """
        connector = step.evse.evse_id
        ts = wire_time(step.ts)
        meter = step.reading
        if step.sample is not None:
            values = sampled_values(
                meter,
                SAMPLE_CONTEXT[step.sample],
                self._station.energy_unit,
                with_soc=step.evse.spec.dc,
            )
            await self._call(
                call.MeterValues(
                    connector_id=connector,
                    meter_value=[MeterValue(timestamp=ts, sampled_value=values)],
                    transaction_id=self._tx.get(connector),
                )
            )
            self._record(step)
        if step.ended is not None and step.end_reason is not None:
            tx = self._tx.pop(connector)
            reason = STOP_REASON_16[step.end_reason]
            await self._call(
                call.StopTransaction(
                    meter_stop=meter.import_wh,
                    timestamp=ts,
                    transaction_id=tx,
                    reason=reason,
                    id_tag=step.ended.id_token[:20],
                )
            )
            self._record(step)
            if self._ledger is not None:
                self._ledger.record_end(
                    self._station.station_id, connector, str(tx), step.ts, meter.import_wh, reason
                )
            await self._status(connector, "Available", step.ts)
        if step.started is not None:
            await self._status(connector, "Preparing", step.ts)
            answer = await self._call(
                call.StartTransaction(
                    connector_id=connector,
                    id_tag=step.started.id_token[:20],
                    meter_start=meter.import_wh,
                    timestamp=ts,
                )
            )
            self._tx[connector] = answer.transaction_id
            self._record(step)
            if self._ledger is not None:
                self._ledger.record_start(
                    self._station.station_id,
                    connector,
                    str(answer.transaction_id),
                    step.ts,
                    meter.import_wh,
                )
            status = answer.id_tag_info.get("status")
            if status != "Accepted":
                LOGGER.warning(
                    "%s connector %d: id tag %s answered %s; stopping the transaction",
                    self._station.station_id,
                    connector,
                    step.started.id_token,
                    status,
                )
                return False
            await self._status(connector, step.charging_state, step.ts)
        elif step.state_changed and step.ended is None:
            await self._status(connector, step.charging_state, step.ts)
        return True
