"""An OCPP 2.0.1 or 2.1 station.

It sends BootNotification, StatusNotification, TransactionEvent, MeterValues, and (2.1,
V2X) NotifyEVChargingNeeds.

A transaction is TransactionEvent Started (seqNo 0, ``evse``, ``idToken``), Updated (seqNo
+1 each: meter samples, charging-state and operation-mode changes) and Ended. The
transactionId is the session's UUID, chosen by the station. Meter values are JSON numbers
with ``unitOfMeasure`` (PROTOCOLS.md section 3); outside a transaction an EVSE reports
through MeterValues. On 2.1, ``transactionInfo.operationMode`` is ChargingOnly, or
CentralSetpoint while the EV discharges, and V2X EVSEs report the export register and
export power. A power-only EVSE reports no energy register at all. A TransactionEvent
queued while the station was offline says ``offline: true``. A session may carry the
transactionId of an earlier, ended one (``Session.transaction_id``): its seqNo starts at
0 again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from types import ModuleType
from typing import Any, Literal

import ocpp.v21.call
import ocpp.v21.datatypes
import ocpp.v201.call
import ocpp.v201.datatypes
from ocpp.charge_point import ChargePoint

from simulator.errors import BootRefusedError
from simulator.evse import EvseStep
from simulator.fleet import EvseSpec, StationSpec
from simulator.ledger import Ledger
from simulator.sessions import Session
from simulator.wire import CURRENT_PHASES, ENDED_2X, SAMPLE_CONTEXT, VOLTAGE_PHASES, wire_time

LOGGER = logging.getLogger(__name__)

V2Version = Literal["2.0.1", "2.1"]

_MODULES: dict[V2Version, tuple[ModuleType, ModuleType]] = {
    "2.0.1": (ocpp.v201.call, ocpp.v201.datatypes),
    "2.1": (ocpp.v21.call, ocpp.v21.datatypes),
}

#: Highest state of charge the EV offers for V2X cycling (for NotifyEVChargingNeeds).
V2X_MAX_SOC_PCT = 90.0


def sampled_values(types: ModuleType, step: EvseStep, context: str) -> list[Any]:
    """The 2.x sampledValue list of one step's reading, numbers with their unit."""
    meter, evse = step.reading, step.evse

    def value(number: float, measurand: str, unit: str, **extra: Any) -> Any:
        return types.SampledValueType(
            value=number,
            context=context,
            measurand=measurand,
            unit_of_measure=types.UnitOfMeasureType(unit=unit),
            **extra,
        )

    values = []
    if evse.meter == "register":
        values.append(value(meter.shown_import_wh, "Energy.Active.Import.Register", "Wh"))
        if evse.bidirectional:
            values.append(value(meter.export_wh, "Energy.Active.Export.Register", "Wh"))
    values.append(value(meter.import_power_w, "Power.Active.Import", "W"))
    if evse.bidirectional:
        values.append(value(meter.export_power_w, "Power.Active.Export", "W"))
    current = "Current.Export" if meter.power_w < 0 else "Current.Import"
    for phase, amps in zip(CURRENT_PHASES, meter.currents_a, strict=False):
        values.append(value(amps, current, "A", phase=phase))
    for phase, volts in zip(VOLTAGE_PHASES, meter.voltages_v, strict=False):
        values.append(value(volts, "Voltage", "V", phase=phase))
    if meter.frequency_hz is not None:
        values.append(value(meter.frequency_hz, "Frequency", "Hz"))
    if evse.spec.dc and meter.soc_pct is not None:
        values.append(value(meter.soc_pct, "SoC", "Percent", location="EV"))
    return values


class V2Speaker:
    """Speaks OCPP 2.0.1 or 2.1 for one station over the version's ``ChargePoint`` client."""

    def __init__(
        self,
        cp: ChargePoint,
        station: StationSpec,
        ledger: Ledger | None,
        charging_needs: bool = False,
    ) -> None:
        """Use the connected client ``cp``; record answered registers in ``ledger``.

        ``charging_needs``: on 2.1, send NotifyEVChargingNeeds when a V2X session starts.
        """
        if station.version == "1.6":
            raise ValueError(f"station {station.station_id} speaks 1.6, not 2.x")
        self._cp = cp
        self._station = station
        self._ledger = ledger
        self._v21 = station.version == "2.1"
        self._charging_needs = charging_needs and self._v21
        self._call_types, self._types = _MODULES[station.version]
        self._tx: dict[int, str] = {}
        self._seq: dict[int, int] = {}

    async def _call(self, payload: Any) -> Any:
        return await self._cp.call(payload, suppress=False)

    async def boot(self, ts: datetime) -> None:
        """BootNotification (must be Accepted), then Available for every EVSE."""
        s = self._station
        answer = await self._call(
            self._call_types.BootNotification(
                charging_station=self._types.ChargingStationType(
                    model=s.model,
                    vendor_name=s.vendor,
                    serial_number=s.serial_number,
                    firmware_version=s.firmware_version,
                ),
                reason="PowerUp",
            )
        )
        if answer.status != "Accepted":
            raise BootRefusedError(
                f"{s.station_id}: BootNotification answered {answer.status!r}, not Accepted"
            )
        for evse in s.evses:
            await self._status(evse, "Available", ts)

    async def heartbeat(self) -> None:
        """One Heartbeat."""
        await self._call(self._call_types.Heartbeat())

    async def _status(self, evse: EvseSpec, status: str, ts: datetime) -> None:
        await self._call(
            self._call_types.StatusNotification(
                timestamp=wire_time(ts),
                connector_status=status,
                evse_id=evse.evse_id,
                connector_id=evse.connector_id,
            )
        )

    def _record(self, step: EvseStep) -> None:
        if self._ledger is None:
            return
        meter = step.reading
        station_id, evse_id = self._station.station_id, step.evse.evse_id
        if step.evse.meter == "power_only":
            self._ledger.record_power(station_id, evse_id, step.ts, meter.import_power_w)
            return
        export = meter.export_wh if step.evse.bidirectional else None
        self._ledger.record_register(
            station_id, evse_id, step.ts, meter.import_wh, export, meter.meter_no
        )
        if meter.misread_wh is not None:
            self._ledger.record_misread(
                station_id, evse_id, step.ts, meter.misread_wh, meter.import_wh
            )

    def _meter_wh(self, step: EvseStep) -> float | None:
        """The import register a session event reports (None for a power-only EVSE)."""
        return None if step.evse.meter == "power_only" else step.reading.import_wh

    def _meter_value(self, step: EvseStep, context: str) -> list[Any]:
        return [
            self._types.MeterValueType(
                timestamp=wire_time(step.ts),
                sampled_value=sampled_values(self._types, step, context),
            )
        ]

    def _transaction_info(self, step: EvseStep, tx: str, **extra: Any) -> Any:
        if self._v21:
            extra["operation_mode"] = "CentralSetpoint" if step.discharging else "ChargingOnly"
        return self._types.TransactionType(transaction_id=tx, **extra)

    async def _event(
        self, step: EvseStep, event_type: str, trigger: str, context: str, info: Any, **extra: Any
    ) -> Any:
        evse_id = step.evse.evse_id
        seq = self._seq[evse_id]
        self._seq[evse_id] = seq + 1
        answer = await self._call(
            self._call_types.TransactionEvent(
                event_type=event_type,
                timestamp=wire_time(step.ts),
                trigger_reason=trigger,
                seq_no=seq,
                transaction_info=info,
                meter_value=self._meter_value(step, context),
                offline=True if step.offline else None,
                **extra,
            )
        )
        self._record(step)
        return answer

    async def send(self, step: EvseStep) -> bool:
        """Meter sample, Ended, Started and changes of one step, in that order.

        Returns False when the CSMS answered Started with an idTokenInfo that is not
        Accepted; the caller then ends the session (``StationSim.refuse``) and sends that.
        """
        evse = step.evse
        evse_id = evse.evse_id
        if step.sample is not None:
            await self._sample(step)
        if step.ended is not None and step.end_reason is not None:
            tx = self._tx.pop(evse_id)
            trigger, stopped = ENDED_2X[step.end_reason]
            info = self._transaction_info(step, tx, charging_state="Idle", stopped_reason=stopped)
            await self._event(step, "Ended", trigger, "Transaction.End", info)
            del self._seq[evse_id]
            if self._ledger is not None:
                self._ledger.record_end(
                    self._station.station_id,
                    evse_id,
                    tx,
                    step.ts,
                    self._meter_wh(step),
                    stopped,
                )
            await self._status(evse, "Available", step.ts)
        if step.started is not None:
            return await self._start(step, step.started)
        if step.ended is None and (step.mode_changed or step.state_changed):
            trigger = "OperationModeChanged" if step.mode_changed else "ChargingStateChanged"
            info = self._transaction_info(
                step, self._tx[evse_id], charging_state=step.charging_state
            )
            await self._event(step, "Updated", trigger, "Trigger", info)
        return True

    async def _sample(self, step: EvseStep) -> None:
        assert step.sample is not None
        context = SAMPLE_CONTEXT[step.sample]
        tx = self._tx.get(step.evse.evse_id)
        if tx is None:
            await self._call(
                self._call_types.MeterValues(
                    evse_id=step.evse.evse_id, meter_value=self._meter_value(step, context)
                )
            )
            self._record(step)
            return
        trigger = "MeterValueClock" if step.sample == "clock" else "MeterValuePeriodic"
        await self._event(step, "Updated", trigger, context, self._transaction_info(step, tx))

    async def _start(self, step: EvseStep, session: Session) -> bool:
        evse = step.evse
        tx = session.transaction_id
        self._tx[evse.evse_id] = tx
        self._seq[evse.evse_id] = 0
        await self._status(evse, "Occupied", step.ts)
        answer = await self._event(
            step,
            "Started",
            "Authorized",
            "Transaction.Begin",
            self._transaction_info(step, tx, charging_state=step.charging_state),
            evse=self._types.EVSEType(id=evse.evse_id, connector_id=evse.connector_id),
            id_token=self._types.IdTokenType(id_token=session.id_token, type="ISO14443"),
            number_of_phases_used=None if evse.spec.dc else evse.spec.phases,
        )
        if self._ledger is not None:
            self._ledger.record_start(
                self._station.station_id, evse.evse_id, tx, step.ts, self._meter_wh(step)
            )
        token_info = answer.id_token_info
        status = token_info.get("status") if token_info else "Accepted"
        if status != "Accepted":
            LOGGER.warning(
                "%s EVSE %d: idToken %s answered %s; ending the transaction",
                self._station.station_id,
                evse.evse_id,
                session.id_token,
                status,
            )
            return False
        if self._charging_needs and evse.bidirectional:
            await self._notify_charging_needs(step, session)
        if session.ems_limit_w is not None:
            await self._notify_charging_limit(step, session.ems_limit_w)
        return True

    async def _notify_charging_limit(self, step: EvseStep, limit_w: float) -> None:
        """2.x NotifyChargingLimit: an EMS limits the EVSE for an hour from now."""
        schedule = self._types.ChargingScheduleType(
            id=1,
            start_schedule=wire_time(step.ts),
            duration=3600,
            charging_rate_unit="W",
            charging_schedule_period=[
                self._types.ChargingSchedulePeriodType(start_period=0, limit=limit_w)
            ],
        )
        await self._call(
            self._call_types.NotifyChargingLimit(
                charging_limit=self._types.ChargingLimitType(
                    charging_limit_source="EMS", is_grid_critical=False
                ),
                evse_id=step.evse.evse_id,
                charging_schedule=[schedule],
            )
        )

    async def _notify_charging_needs(self, step: EvseStep, session: Session) -> None:
        """2.1 NotifyEVChargingNeeds for a V2X session: departure, energy, V2X range."""
        soc = session.soc_start_pct if step.reading.soc_pct is None else step.reading.soc_pct
        window = session.discharge
        min_v2x_soc = window.min_soc_pct if window is not None else soc

        def energy_to(target_pct: float) -> float:
            return round((target_pct - soc) / 100.0 * session.capacity_wh)

        spec = step.evse.spec
        needs = self._types.ChargingNeedsType(
            requested_energy_transfer="DC_BPT",
            departure_time=wire_time(session.departure),
            dc_charging_parameters=self._types.DCChargingParametersType(
                ev_max_current=round(spec.max_power_w / 400.0, 1),
                ev_max_voltage=450.0,
                ev_energy_capacity=session.capacity_wh,
                state_of_charge=round(soc),
            ),
            v2x_charging_parameters=self._types.V2XChargingParametersType(
                max_charge_power=min(spec.max_power_w, session.ev_max_power_w),
                max_discharge_power=window.power_w if window is not None else 0.0,
                ev_target_energy_request=energy_to(session.soc_target_pct),
                ev_max_energy_request=energy_to(100.0),
                ev_min_v2x_energy_request=energy_to(min_v2x_soc),
                ev_max_v2x_energy_request=energy_to(V2X_MAX_SOC_PCT),
                target_soc=round(session.soc_target_pct),
            ),
        )
        answer = await self._call(
            self._call_types.NotifyEVChargingNeeds(
                charging_needs=needs, evse_id=step.evse.evse_id, timestamp=wire_time(step.ts)
            )
        )
        LOGGER.debug("%s: NotifyEVChargingNeeds answered %s", self._station.station_id, answer)
