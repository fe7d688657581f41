"""The ground truth: every register value the stations sent, and every session.

Stations record a register once the CSMS has answered the message that carried it, so the
ledger holds exactly what the pipeline was given. From it, ``quarter_hour_energy`` computes
what the meters counted per site and settlement period: the sum over the site's meters of
``R(end) - R(start)`` from the readings taken exactly at the quarter-hour boundaries (the
simulator always samples there), with no interpolation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gridstream.periods import QUARTER_HOUR, ceil_quarter_hour, quarter_hour_start
from simulator.errors import LedgerError

MeterKey = tuple[str, int]
"""(station_id, evse_id)"""


@dataclass(frozen=True)
class RegisterRecord:
    """Registers of one meter at ``ts`` (Wh); ``export_wh`` None when not reported."""

    ts: datetime
    import_wh: float
    export_wh: float | None


@dataclass(frozen=True)
class SessionRecord:
    """A session as the stations reported it. ``ended_at`` None while still open."""

    station_id: str
    evse_id: int
    transaction_id: str
    started_at: datetime
    meter_start_wh: float
    ended_at: datetime | None = None
    meter_stop_wh: float | None = None
    reason: str | None = None


class Ledger:
    """Registers and sessions as sent, per (station_id, evse_id)."""

    def __init__(self, site_of: Mapping[str, str]) -> None:
        """``site_of`` maps station ids to site ids (``Fleet.site_of()``)."""
        self._site_of = dict(site_of)
        self._registers: dict[MeterKey, list[RegisterRecord]] = {}
        self._sessions: dict[tuple[str, int, str], SessionRecord] = {}

    def record_register(
        self,
        station_id: str,
        evse_id: int,
        ts: datetime,
        import_wh: float,
        export_wh: float | None = None,
    ) -> None:
        """Record the registers one meter reported at ``ts``.

        The same values again at the same instant (several messages carry them) are kept
        once; different values, or an instant before the last one, raise ``LedgerError``.
        """
        records = self._registers.setdefault((station_id, evse_id), [])
        record = RegisterRecord(ts.astimezone(UTC), float(import_wh), _opt(export_wh))
        if records:
            last = records[-1]
            if last.ts == record.ts:
                if last != record:
                    raise LedgerError(
                        f"{station_id}/{evse_id} at {ts.isoformat()}: registers {record} "
                        f"differ from {last} sent earlier for the same instant"
                    )
                return
            if record.ts < last.ts:
                raise LedgerError(
                    f"{station_id}/{evse_id}: reading at {ts.isoformat()} is before the "
                    f"last one at {last.ts.isoformat()}"
                )
        records.append(record)

    def record_start(
        self, station_id: str, evse_id: int, transaction_id: str, ts: datetime, meter_wh: float
    ) -> None:
        """A session began (1.6 StartTransaction / 2.x TransactionEvent Started answered)."""
        key = (station_id, evse_id, transaction_id)
        self._sessions[key] = SessionRecord(
            station_id, evse_id, transaction_id, ts.astimezone(UTC), float(meter_wh)
        )

    def record_end(
        self,
        station_id: str,
        evse_id: int,
        transaction_id: str,
        ts: datetime,
        meter_wh: float,
        reason: str,
    ) -> None:
        """A session ended (1.6 StopTransaction / 2.x TransactionEvent Ended answered)."""
        key = (station_id, evse_id, transaction_id)
        started = self._sessions[key]
        self._sessions[key] = SessionRecord(
            station_id,
            evse_id,
            transaction_id,
            started.started_at,
            started.meter_start_wh,
            ts.astimezone(UTC),
            float(meter_wh),
            reason,
        )

    @property
    def sessions_started(self) -> int:
        """Number of sessions started."""
        return len(self._sessions)

    @property
    def sessions_ended(self) -> int:
        """Number of sessions ended."""
        return sum(1 for s in self._sessions.values() if s.ended_at is not None)

    def sessions(self) -> list[SessionRecord]:
        """Every session, in the order they started."""
        return list(self._sessions.values())

    def meters(self) -> list[MeterKey]:
        """Every meter that reported, as (station_id, evse_id)."""
        return list(self._registers)

    def readings(self, station_id: str, evse_id: int) -> list[RegisterRecord]:
        """The meter's registers in time order."""
        return list(self._registers.get((station_id, evse_id), []))

    def meter_quarter_hour_energy(self) -> dict[tuple[str, int, datetime], tuple[float, float]]:
        """Per meter and interval ``[s, s + 15 min)``: (import_wh, export_wh) = R(e) - R(s).

        Covers every interval between the meter's first and last reading. Each such
        boundary must have a reading exactly on it (``LedgerError`` otherwise).
        """
        out: dict[tuple[str, int, datetime], tuple[float, float]] = {}
        for (station_id, evse_id), records in self._registers.items():
            at = {r.ts: r for r in records if r.ts == quarter_hour_start(r.ts)}
            s = ceil_quarter_hour(records[0].ts)
            while s + QUARTER_HOUR <= records[-1].ts:
                e = s + QUARTER_HOUR
                if s not in at or e not in at:
                    missing = s if s not in at else e
                    raise LedgerError(
                        f"{station_id}/{evse_id}: no reading at boundary {missing.isoformat()}"
                    )
                out[(station_id, evse_id, s)] = (
                    at[e].import_wh - at[s].import_wh,
                    (at[e].export_wh or 0.0) - (at[s].export_wh or 0.0),
                )
                s = e
        return out

    def quarter_hour_energy(self) -> dict[tuple[str, datetime], tuple[float, float]]:
        """Per site and interval ``[s, s + 15 min)`` keyed by ``s``: (import_wh, export_wh).

        The sum over the site's meters of their register differences at the boundaries
        (``meter_quarter_hour_energy``); a station not in ``site_of`` is its own site.
        """
        out: dict[tuple[str, datetime], tuple[float, float]] = {}
        for (station_id, _evse, s), (imp, exp) in self.meter_quarter_hour_energy().items():
            key = (self._site_of.get(station_id, station_id), s)
            total_imp, total_exp = out.get(key, (0.0, 0.0))
            out[key] = (total_imp + imp, total_exp + exp)
        return dict(sorted(out.items()))


def _opt(value: float | None) -> float | None:
    return None if value is None else float(value)
