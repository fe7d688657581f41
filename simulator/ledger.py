"""The ground truth: every meter value the stations sent, and what the pipeline must make of it.

Stations record a value once the CSMS has answered the message that carried it, so the
ledger holds exactly what the pipeline was given, with the truth beside the quirks:

- registers (``record_register``), each with the number of the meter that read it
  (``meter_no`` goes up at a reset: a new meter, a new segment);
- power samples of a power-only EVSE (``record_power``);
- misreads (``record_misread``): kept apart, never counted: the true register is.

From them ``quarter_hour_energy`` computes, as DOMAIN.md defines it ("Meter values",
"Intervals and energy"), what each site imported and exported per settlement period:

- a meter's energy over ``[a, b)`` is ``R(b) - R(a)`` per segment, clipped to the
  segment's first and last reading (nothing across a reset); the simulator reads every
  meter exactly at every quarter-hour boundary, so no interpolation is needed;
- a power-only meter's energy is the trapezoidal integral of the samples sent, over pairs
  no further apart than ``max_gap``;
- a site's load is netted per minute (``net_step``) across its meters: import is the sum
  of the positive minutes, export of the negative ones. Where no meter of the site
  exported in the quarter-hour every minute is positive, so import is the sum of the
  meters' energy; where one did, every meter that moved must have been read at every
  minute boundary (the simulator samples every minute on such sites) and the ledger nets
  minute by minute.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from gridstream.periods import QUARTER_HOUR, ceil_quarter_hour
from gridstream.settings import Settings
from simulator.errors import LedgerError

MeterKey = tuple[str, int]
"""(station_id, evse_id)"""

MINUTE = timedelta(minutes=1)
DEFAULT_MAX_GAP = timedelta(seconds=Settings.model_fields["max_gap_s"].default)
"""``GRIDSTREAM_MAX_GAP_S``'s default: power samples further apart are not integrated."""
DEFAULT_NET_STEP = timedelta(seconds=Settings.model_fields["net_step_s"].default)
"""``GRIDSTREAM_NET_STEP_S``'s default (a minute): the step a site's load is netted on."""


@dataclass(frozen=True)
class RegisterRecord:
    """Registers of one meter at ``ts`` (Wh); ``export_wh`` None when not reported.

    ``meter_no`` is the meter that read them: it goes up by one at each reset.
    """

    ts: datetime
    import_wh: float
    export_wh: float | None
    meter_no: int = 0


@dataclass(frozen=True)
class PowerRecord:
    """Active import power (W) a power-only meter reported at ``ts``."""

    ts: datetime
    power_w: float


@dataclass(frozen=True)
class MisreadRecord:
    """A register reading that was wrong: ``sent_wh`` went out, ``true_wh`` is the truth."""

    station_id: str
    evse_id: int
    ts: datetime
    sent_wh: float
    true_wh: float


@dataclass(frozen=True)
class SessionRecord:
    """A session as the stations reported it. ``ended_at`` None while still open.

    ``meter_start_wh`` / ``meter_stop_wh`` are None for a power-only EVSE.
    """

    station_id: str
    evse_id: int
    transaction_id: str
    started_at: datetime
    meter_start_wh: float | None
    ended_at: datetime | None = None
    meter_stop_wh: float | None = None
    reason: str | None = None


@dataclass
class _Meter:
    registers: list[RegisterRecord] = field(default_factory=list)
    powers: list[PowerRecord] = field(default_factory=list)

    @property
    def instants(self) -> list[datetime]:
        return [r.ts for r in self.registers] or [p.ts for p in self.powers]


class Ledger:
    """Meter values and sessions as sent, per (station_id, evse_id)."""

    def __init__(
        self,
        site_of: Mapping[str, str],
        max_gap: timedelta = DEFAULT_MAX_GAP,
        net_step: timedelta = DEFAULT_NET_STEP,
    ) -> None:
        """``site_of`` maps station ids to site ids (``Fleet.site_of()``).

        ``max_gap`` and ``net_step`` are the pipeline's (``GRIDSTREAM_MAX_GAP_S``,
        ``GRIDSTREAM_NET_STEP_S``): power samples further apart than ``max_gap`` are not
        integrated; a site's load is netted per ``net_step`` (which divides 15 minutes).
        """
        if net_step <= timedelta(0) or QUARTER_HOUR % net_step:
            raise ValueError(f"net step {net_step} must divide 15 minutes")
        self._site_of = dict(site_of)
        self._max_gap = max_gap
        self._net_step = net_step
        self._meters: dict[MeterKey, _Meter] = {}
        self._misreads: list[MisreadRecord] = []
        self._sessions: list[SessionRecord] = []

    # --- recording ------------------------------------------------------------------------

    def record_register(
        self,
        station_id: str,
        evse_id: int,
        ts: datetime,
        import_wh: float,
        export_wh: float | None = None,
        meter_no: int = 0,
    ) -> None:
        """Record the true registers one meter reported at ``ts``.

        The same values again at the same instant (several messages carry them) are kept
        once. ``LedgerError`` for different values at one instant, an instant before the
        last one, a register that goes down on the same meter, or a meter number that
        goes back.
        """
        meter = self._meter(station_id, evse_id, "register")
        record = RegisterRecord(ts.astimezone(UTC), float(import_wh), _opt(export_wh), meter_no)
        where = f"{station_id}/{evse_id} at {ts.isoformat()}"
        if meter.registers:
            last = meter.registers[-1]
            if last.ts == record.ts:
                if last != record:
                    raise LedgerError(
                        f"{where}: registers {record} differ from {last} sent earlier for the "
                        "same instant"
                    )
                return
            if record.ts < last.ts:
                raise LedgerError(f"{where}: before the last reading at {last.ts.isoformat()}")
            if record.meter_no < last.meter_no:
                raise LedgerError(f"{where}: meter {meter_no} after meter {last.meter_no}")
            if record.meter_no == last.meter_no and (
                record.import_wh < last.import_wh
                or (record.export_wh or 0.0) < (last.export_wh or 0.0)
            ):
                raise LedgerError(f"{where}: register went down without a new meter")
        meter.registers.append(record)

    def record_power(self, station_id: str, evse_id: int, ts: datetime, power_w: float) -> None:
        """Record the power a power-only meter reported at ``ts`` (W, import).

        The same value again at the same instant is kept once; a different one, or an
        instant before the last one, raises ``LedgerError``.
        """
        meter = self._meter(station_id, evse_id, "power")
        record = PowerRecord(ts.astimezone(UTC), float(power_w))
        if meter.powers:
            last = meter.powers[-1]
            if last == record:
                return
            if record.ts <= last.ts:
                raise LedgerError(
                    f"{station_id}/{evse_id} at {ts.isoformat()}: power {power_w} W after "
                    f"{last.power_w} W at {last.ts.isoformat()}"
                )
        meter.powers.append(record)

    def record_misread(
        self, station_id: str, evse_id: int, ts: datetime, sent_wh: float, true_wh: float
    ) -> None:
        """A register reading at ``ts`` went out as ``sent_wh`` instead of ``true_wh``.

        Record the true value with ``record_register`` as well: that one counts.
        """
        self._misreads.append(
            MisreadRecord(station_id, evse_id, ts.astimezone(UTC), float(sent_wh), true_wh)
        )

    def record_start(
        self,
        station_id: str,
        evse_id: int,
        transaction_id: str,
        ts: datetime,
        meter_wh: float | None,
    ) -> None:
        """A session began (1.6 StartTransaction / 2.x TransactionEvent Started answered)."""
        self._sessions.append(
            SessionRecord(station_id, evse_id, transaction_id, ts.astimezone(UTC), _opt(meter_wh))
        )

    def record_end(
        self,
        station_id: str,
        evse_id: int,
        transaction_id: str,
        ts: datetime,
        meter_wh: float | None,
        reason: str,
    ) -> None:
        """A session ended (1.6 StopTransaction / 2.x TransactionEvent Ended answered).

        It ends the open session of that EVSE and transaction id (ids may be reused once
        the earlier session has ended).
        """
        for i in range(len(self._sessions) - 1, -1, -1):
            s = self._sessions[i]
            if (s.station_id, s.evse_id, s.transaction_id) == (
                station_id,
                evse_id,
                transaction_id,
            ) and s.ended_at is None:
                self._sessions[i] = SessionRecord(
                    station_id,
                    evse_id,
                    transaction_id,
                    s.started_at,
                    s.meter_start_wh,
                    ts.astimezone(UTC),
                    _opt(meter_wh),
                    reason,
                )
                return
        raise LedgerError(f"{station_id}/{evse_id}: no open session {transaction_id} to end")

    # --- reading back ---------------------------------------------------------------------

    @property
    def sessions_started(self) -> int:
        """Number of sessions started."""
        return len(self._sessions)

    @property
    def sessions_ended(self) -> int:
        """Number of sessions ended."""
        return sum(1 for s in self._sessions if s.ended_at is not None)

    def sessions(self) -> list[SessionRecord]:
        """Every session, in the order they started."""
        return list(self._sessions)

    def meters(self) -> list[MeterKey]:
        """Every meter that reported, as (station_id, evse_id)."""
        return list(self._meters)

    def readings(self, station_id: str, evse_id: int) -> list[RegisterRecord]:
        """The meter's true registers in time order."""
        meter = self._meters.get((station_id, evse_id))
        return list(meter.registers) if meter is not None else []

    def powers(self, station_id: str, evse_id: int) -> list[PowerRecord]:
        """The power samples of a power-only meter in time order."""
        meter = self._meters.get((station_id, evse_id))
        return list(meter.powers) if meter is not None else []

    def misreads(self) -> list[MisreadRecord]:
        """Every misread sent, in the order sent."""
        return list(self._misreads)

    # --- energy ---------------------------------------------------------------------------

    def meter_energy(
        self, station_id: str, evse_id: int, start: datetime, end: datetime
    ) -> tuple[float, float]:
        """(import_wh, export_wh) one meter counted over ``[start, end)`` (DOMAIN.md).

        Registers: ``R(end) - R(start)`` per segment (one meter number), each clipped to
        the segment's first and last reading; nothing is counted across a reset. Power
        only: the trapezoid ``(p1 + p2) / 2 x (t2 - t1)`` of each pair of consecutive
        samples within ``[start, end]`` no further apart than ``max_gap``. A reading is
        needed exactly at each end that lies within the meter's readings (``LedgerError``
        names the missing one).
        """
        meter = self._meters[(station_id, evse_id)]
        where = f"{station_id}/{evse_id}"
        if meter.powers:
            return _trapezoid_wh(meter.powers, start, end, self._max_gap, where), 0.0
        imp = exp = 0.0
        for segment in _segments(meter.registers):
            lo, hi = max(start, segment[0].ts), min(end, segment[-1].ts)
            if lo >= hi:
                continue
            at = {r.ts: r for r in segment}
            if lo not in at or hi not in at:
                missing = lo if lo not in at else hi
                raise LedgerError(f"{where}: no reading at {missing.isoformat()}")
            imp += at[hi].import_wh - at[lo].import_wh
            exp += (at[hi].export_wh or 0.0) - (at[lo].export_wh or 0.0)
        return imp, exp

    def meter_quarter_hour_energy(self) -> dict[tuple[str, int, datetime], tuple[float, float]]:
        """Per meter and interval ``[s, s + 15 min)`` keyed by ``s``: gross (import, export).

        Covers every interval between the meter's first and last reading; each boundary
        in that span must have a reading exactly on it (``LedgerError`` otherwise).
        """
        out: dict[tuple[str, int, datetime], tuple[float, float]] = {}
        for (station_id, evse_id), meter in self._meters.items():
            instants = meter.instants
            present = set(instants)
            s = ceil_quarter_hour(instants[0])
            while s + QUARTER_HOUR <= instants[-1]:
                e = s + QUARTER_HOUR
                for boundary in (s, e):
                    if boundary not in present:
                        raise LedgerError(
                            f"{station_id}/{evse_id}: no reading at boundary {boundary.isoformat()}"
                        )
                out[(station_id, evse_id, s)] = self.meter_energy(station_id, evse_id, s, e)
                s = e
        return out

    def quarter_hour_energy(self) -> dict[tuple[str, datetime], tuple[float, float]]:
        """Per site and interval ``[s, s + 15 min)`` keyed by ``s``: (import_wh, export_wh).

        The site's load netted per minute across its meters (module docstring): import is
        the sum of the minutes whose net (imports minus exports) is positive, export the
        sum of the negative ones. A station not in ``site_of`` is its own site.
        """
        gross: dict[tuple[str, datetime], list[tuple[MeterKey, float, float]]] = {}
        for (station_id, evse_id, s), (imp, exp) in self.meter_quarter_hour_energy().items():
            site = self._site_of.get(station_id, station_id)
            gross.setdefault((site, s), []).append(((station_id, evse_id), imp, exp))
        out: dict[tuple[str, datetime], tuple[float, float]] = {}
        for (site, s), meters in sorted(gross.items()):
            if all(exp == 0.0 for _, _, exp in meters):
                # No export: every minute is >= 0, and the minutes add up to the meters.
                out[(site, s)] = (sum(imp for _, imp, _ in meters), 0.0)
                continue
            moving = [key for key, imp, exp in meters if imp != 0.0 or exp != 0.0]
            site_import = site_export = 0.0
            for k in range(QUARTER_HOUR // self._net_step):
                step = s + k * self._net_step
                net = 0.0
                for key in moving:
                    imp, exp = self.meter_energy(*key, step, step + self._net_step)
                    net += imp - exp
                site_import += max(net, 0.0)
                site_export += max(-net, 0.0)
            out[(site, s)] = (site_import, site_export)
        return out

    def _meter(self, station_id: str, evse_id: int, kind: Literal["register", "power"]) -> _Meter:
        meter = self._meters.setdefault((station_id, evse_id), _Meter())
        if (kind == "power" and meter.registers) or (kind == "register" and meter.powers):
            raise LedgerError(
                f"{station_id}/{evse_id}: registers and power-only samples for one meter"
            )
        return meter


def _segments(records: list[RegisterRecord]) -> list[list[RegisterRecord]]:
    """Consecutive readings of one meter number each (a reset starts a new one)."""
    out: list[list[RegisterRecord]] = []
    for r in records:
        if not out or out[-1][-1].meter_no != r.meter_no:
            out.append([])
        out[-1].append(r)
    return out


def _trapezoid_wh(
    powers: list[PowerRecord], start: datetime, end: datetime, max_gap: timedelta, where: str
) -> float:
    """Trapezoidal energy (Wh) of the samples over ``[start, end]``, pairs within ``max_gap``.

    >>> t = datetime(2026, 1, 15, 10, tzinfo=UTC)
    >>> samples = [PowerRecord(t, 0.0), PowerRecord(t + MINUTE, 7200.0),
    ...            PowerRecord(t + 2 * MINUTE, 7200.0)]
    >>> _trapezoid_wh(samples, t, t + 2 * MINUTE, DEFAULT_MAX_GAP, "X/1")  # 60 + 120 Wh
    180.0
    """
    first, last = powers[0].ts, powers[-1].ts
    lo, hi = max(start, first), min(end, last)
    if lo >= hi:
        return 0.0
    inside = [p for p in powers if lo <= p.ts <= hi]
    if not inside or inside[0].ts != lo or inside[-1].ts != hi:
        missing = lo if not inside or inside[0].ts != lo else hi
        raise LedgerError(f"{where}: no power sample at {missing.isoformat()}")
    wh = 0.0
    for a, b in itertools.pairwise(inside):
        gap = b.ts - a.ts
        if gap <= max_gap:
            wh += (a.power_w + b.power_w) / 2.0 * gap.total_seconds() / 3600.0
    return wh


def _opt(value: float | None) -> float | None:
    return None if value is None else float(value)
