"""The charging needs of the sessions still under way, as every worker knows them.

A side input, like the signal book: EVs tell their needs (OCPP NotifyEVChargingNeeds:
departure, energy, power bounds) on ``ev.charging_needs``, and sessions end on
``transactions``; a worker's flexibility computation asks which needs hold for a site's
EVSEs at an instant. Pure bookkeeping, no I/O (``streams.needs_feed`` feeds it).

The latest needs per EVSE (station, EVSE id) stand for its session until an ``ended``
transaction event of that EVSE, or of the transaction its readings carry, at or after
them; or until ``max_age`` after they were told (a session whose end never arrived).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gridstream.records import EVChargingNeeds, TransactionEvent

#: Needs older than this stand for no session (an EV plugged in for two days and more
#: tells its needs again; a session whose ``ended`` event was lost must not offer for ever).
NEEDS_MAX_AGE = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class Ended:
    """When a transaction of a station ended, on which EVSE (None: not said, as in 1.6)."""

    evse_id: int | None
    transaction_id: str
    ts: datetime


@dataclass
class NeedsBook:
    """Latest charging needs per EVSE, and the recent session ends of each station."""

    max_age: timedelta = NEEDS_MAX_AGE
    _needs: dict[str, dict[tuple[str, int], EVChargingNeeds]] = field(default_factory=dict)
    _ended: dict[str, list[Ended]] = field(default_factory=dict)

    def add_needs(self, needs: EVChargingNeeds) -> None:
        """Keep ``needs`` for its EVSE unless newer ones are known (re-sent or late needs)."""
        site = self._needs.setdefault(needs.site_id, {})
        key = (needs.station_id, needs.evse_id)
        known = site.get(key)
        if known is None or needs.ts >= known.ts:
            site[key] = needs

    def add_event(self, event: TransactionEvent) -> None:
        """Note an ``ended`` event (others say nothing of whether a session goes on)."""
        if event.event_type == "ended":
            ends = self._ended.setdefault(event.station_id, [])
            ends.append(Ended(event.evse_id, event.transaction_id, event.ts))
            if len(ends) > 64:  # a station's few EVSEs: the latest ends are the ones asked
                del ends[: len(ends) - 64]

    def needs_at(self, site_id: str, at: datetime) -> list[EVChargingNeeds]:
        """The needs told at or before ``at`` and younger than ``max_age``, per EVSE."""
        return [
            n
            for n in self._needs.get(site_id, {}).values()
            if n.ts <= at and at - n.ts < self.max_age
        ]

    def ended(self, needs: EVChargingNeeds, transaction_id: str | None, at: datetime) -> bool:
        """Whether the session ``needs`` stand for ended at or before ``at``.

        An ``ended`` event counts when it is of the needs' EVSE, or (an event that names no
        EVSE) of ``transaction_id``, the transaction the EVSE's readings carry, and falls
        between the needs and ``at``.
        """
        for end in self._ended.get(needs.station_id, ()):
            if not needs.ts <= end.ts <= at:
                continue
            if end.evse_id == needs.evse_id or (
                end.evse_id is None and end.transaction_id == transaction_id
            ):
                return True
        return False

    def forget_before(self, cutoff: datetime) -> None:
        """Drop needs and ends older than ``cutoff`` (they no longer matter)."""
        for site_id in list(self._needs):
            kept = {k: n for k, n in self._needs[site_id].items() if n.ts >= cutoff}
            if kept:
                self._needs[site_id] = kept
            else:
                del self._needs[site_id]
        for station_id in list(self._ended):
            ends = [e for e in self._ended[station_id] if e.ts >= cutoff]
            if ends:
                self._ended[station_id] = ends
            else:
                del self._ended[station_id]
