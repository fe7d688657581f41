"""One EVSE over simulated time: its meter, the EV plugged in, and what changed when.

Pure state machine, no I/O. ``EvseSim.advance(t, sample)`` integrates the power in force
since the previous instant up to ``t`` (capped where the battery reaches its target or its
minimum), applies what happens at ``t`` (a departure, then an arrival, a discharge window
opening or closing) and returns an ``EvseStep``: the reading at ``t`` and the changes, which
a station turns into OCPP messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from simulator.fleet import EvseSpec
from simulator.meter import Battery, MeterReading, Registers, energy_ws, reading
from simulator.quirks import misread_wh
from simulator.sessions import Session, session_power_w

SampleKind = Literal["clock", "periodic"]
"""``clock``: a quarter-hour boundary (Sample.Clock); ``periodic``: between them."""

ChargingState = Literal["Charging", "SuspendedEV", "Idle"]
"""OCPP 2.x chargingState names (1.6 StatusNotification: Charging, SuspendedEV, Available)."""

EndReason = Literal["departed", "shutdown", "refused"]
"""Why a session ended: the EV left, the simulation stopped, or the CSMS refused the token."""


@dataclass(frozen=True)
class EvseStep:
    """What happened on one EVSE at ``reading.ts``, in the order a station reports it.

    1. ``sample``: a meter sample is due (it belongs to the session that ran up to ``ts``);
    2. ``ended``: that session ends at ``ts`` (``end_reason`` says why);
    3. ``started``: a new session begins at ``ts``;
    4. ``mode_changed`` / ``state_changed``: the running session switched between charging
       and discharging, or between Charging and SuspendedEV.

    ``reading`` is the same for all of them: registers at ``ts``, power in force from ``ts``.
    ``discharging`` and ``charging_state`` describe the state from ``ts`` on. ``offline``:
    the station was offline at ``ts`` (it sends this step late, from its queue).
    """

    evse: EvseSpec
    reading: MeterReading
    sample: SampleKind | None = None
    ended: Session | None = None
    end_reason: EndReason | None = None
    started: Session | None = None
    mode_changed: bool = False
    state_changed: bool = False
    discharging: bool = False
    charging_state: ChargingState = "Idle"
    offline: bool = False

    @property
    def ts(self) -> datetime:
        """The instant of this step."""
        return self.reading.ts

    @property
    def changed(self) -> bool:
        """Whether anything but a sample happened."""
        return (
            self.ended is not None
            or self.started is not None
            or self.mode_changed
            or self.state_changed
        )


class EvseSim:
    """The meter and sessions of one EVSE, advanced instant by instant.

    The meter's quirks (``evse.misread``, ``evse.reset``) happen at their offsets from
    ``start``: a reset swaps the registers at its instant (a change, not reported by
    itself); a misread shows on the first periodic sample at or after its instant that
    carries nothing else.
    """

    def __init__(self, evse: EvseSpec, sessions: Iterator[Session], start: datetime) -> None:
        """Start at ``start`` with the EVSE's initial registers and no EV plugged in."""
        self.evse = evse
        self.meter_no = 0
        self._reset_at = None if evse.reset is None else start + evse.reset.after
        self._misread_at = None if evse.misread is None else start + evse.misread.after
        self._start = start
        self._last: MeterReading | None = None
        self._sessions = sessions
        self._next: Session | None = next(sessions, None)
        self.ts = start
        self.registers = Registers.from_wh(evse.initial_import_wh, evse.initial_export_wh)
        self.session: Session | None = None
        self.battery: Battery | None = None
        self.power_w = 0.0
        self.discharging = False
        self.charging_state: ChargingState = "Idle"

    def next_change(self) -> datetime | None:
        """The next instant after ``ts`` at which something happens to this EVSE, if any."""
        candidates: list[datetime] = []
        if self.session is not None:
            candidates.append(self.session.departure)
            window = self.session.discharge
            if window is not None:
                candidates += [t for t in (window.start, window.end) if t > self.ts]
        elif self._next is not None:
            candidates.append(self._next.arrival)
        if self._reset_at is not None and self._reset_at > self.ts:
            candidates.append(self._reset_at)
        # A change planned for an instant already passed happens at the next second.
        return max(min(candidates), self.ts + timedelta(seconds=1)) if candidates else None

    def advance(self, t: datetime, sample: SampleKind | None) -> EvseStep:
        """Move to ``t`` (not before ``ts``) and report what happened there."""
        if t < self.ts:
            raise ValueError(f"EVSE {self.evse.evse_id}: cannot go back from {self.ts} to {t}")
        self._integrate(t)
        if self._reset_at is not None and t >= self._reset_at:
            assert self.evse.reset is not None
            self.registers = Registers.from_wh(self.evse.reset.new_import_wh)
            self.meter_no += 1
            self._reset_at = None
        ended: Session | None = None
        end_reason: EndReason | None = None
        started: Session | None = None
        if self.session is not None and t >= self.session.departure:
            ended, end_reason = self.session, "departed"
            self._unplug()
        if self.session is None and self._next is not None and self._next.arrival <= t:
            started = self._next
            self._plug(started)
        was_discharging, was_state = self.discharging, self.charging_state
        self._set_power(t)
        running = ended is None and started is None and self.session is not None
        return self._step(
            sample,
            ended=ended,
            end_reason=end_reason,
            started=started,
            mode_changed=running and self.discharging != was_discharging,
            state_changed=running and self.charging_state != was_state,
        )

    def end_session(self, reason: EndReason) -> EvseStep | None:
        """End the running session now (at ``ts``), e.g. when the simulation stops.

        A meter reports one reading per instant: when the EVSE already reported at ``ts``,
        the end carries that reading again (the power measured then, not the 0 after).
        """
        if self.session is None:
            return None
        ended = self.session
        self._unplug()
        self._set_power(self.ts)
        return self._step(None, ended=ended, end_reason=reason)

    def _plug(self, session: Session) -> None:
        self.session = session
        self.battery = Battery(session.capacity_wh, session.soc_start_pct)
        self._next = next(self._sessions, None)

    def _unplug(self) -> None:
        self.session = None
        self.battery = None

    def _integrate(self, t: datetime) -> None:
        """Registers and battery over ``[ts, t)`` at the power in force, then ``ts = t``.

        The EV stops drawing at its target and stops feeding at its discharge minimum:
        the energy is capped there and the state of charge lands exactly on the limit.
        """
        duration = t - self.ts
        self.ts = t
        if duration <= timedelta(0) or self.power_w == 0.0:
            return
        assert self.session is not None and self.battery is not None
        session, battery = self.session, self.battery
        energy = energy_ws(self.power_w, duration)
        if energy > 0:
            limit_soc = session.soc_target_pct
        else:
            assert session.discharge is not None
            limit_soc = session.discharge.min_soc_pct
        limit = int(battery.grid_wh_to(limit_soc, session.efficiency) * 3600.0)
        if energy * limit <= 0:  # already at (or past) the limit: no room left
            return
        if abs(energy) >= abs(limit):  # reaches the limit within the step
            energy, battery = limit, replace(battery, soc_pct=limit_soc)
        else:
            battery = battery.after(energy / 3600.0, session.efficiency)
        self.battery = battery
        self.registers = self.registers.add(energy)

    def _set_power(self, t: datetime) -> None:
        """Power, discharge mode and charging state in force from ``t``."""
        if self.session is None or self.battery is None:
            self.power_w, self.discharging, self.charging_state = 0.0, False, "Idle"
            return
        window = self.session.discharge
        self.discharging = window is not None and window.start <= t < window.end
        self.power_w = session_power_w(self.session, self.evse, self.battery.soc_pct, t)
        self.charging_state = "Charging" if self.power_w != 0.0 else "SuspendedEV"

    def _grid(self, meter: MeterReading) -> MeterReading:
        """The reading with the grid's frequency and any disturbance in force at its time."""
        frequency = 50.0 if self.evse.reports_frequency else None
        voltages = meter.voltages_v
        for event in self.evse.grid:
            if self._start + event.after <= meter.ts < self._start + event.after + event.lasting:
                if event.frequency_hz is not None and frequency is not None:
                    frequency = event.frequency_hz
                if event.voltage_l1_v is not None:
                    voltages = (event.voltage_l1_v, *voltages[1:])
        if frequency is None and voltages is meter.voltages_v:
            return meter
        return replace(meter, frequency_hz=frequency, voltages_v=voltages)

    def _step(
        self,
        sample: SampleKind | None,
        *,
        ended: Session | None = None,
        end_reason: EndReason | None = None,
        started: Session | None = None,
        mode_changed: bool = False,
        state_changed: bool = False,
    ) -> EvseStep:
        if self._last is not None and self._last.ts == self.ts:
            meter = self._last
        else:
            soc = self.battery.soc_pct if self.battery is not None else None
            meter = reading(
                self.ts,
                self.registers,
                self.power_w,
                self.evse.spec.phases,
                self.evse.seed,
                soc,
                self.meter_no,
            )
            meter = self._grid(meter)
            self._last = meter
        quiet = ended is None and started is None and not mode_changed and not state_changed
        if (
            sample == "periodic"
            and quiet
            and self._misread_at is not None
            and self.ts >= self._misread_at
        ):
            assert self.evse.misread is not None
            meter = replace(meter, misread_wh=misread_wh(meter.import_wh, self.evse.misread.kind))
            self._misread_at = None
        return EvseStep(
            evse=self.evse,
            reading=meter,
            sample=sample,
            ended=ended,
            end_reason=end_reason,
            started=started,
            mode_changed=mode_changed,
            state_changed=state_changed,
            discharging=self.discharging,
            charging_state=self.charging_state,
        )
