"""The charging limits stations were given, as every worker knows them (a side input).

``ChargingLimit`` records come on ``charging.limits`` (``streams.limit_feed`` feeds this
book): one per schedule period of a profile or reported limit. A profile is replaced whole
by a later message for the same ``profile_key`` (OCPP: the same EVSE, purpose and stack
level; for external limits the same EVSE and source). Pure bookkeeping, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gridstream.records import ChargingLimit

_Version = tuple[datetime, str]


@dataclass
class LimitBook:
    """The latest periods of each profile, by station."""

    _profiles: dict[str, tuple[_Version, list[ChargingLimit]]] = field(default_factory=dict)
    _by_station: dict[str, set[str]] = field(default_factory=dict)

    def add(self, limit: ChargingLimit) -> None:
        """Keep ``limit``: a newer message for its profile replaces the profile's periods."""
        version = (limit.received_at, limit.message_id or "")
        held = self._profiles.get(limit.profile_key)
        if held is None or version > held[0]:
            self._profiles[limit.profile_key] = (version, [limit])
            self._by_station.setdefault(limit.station_id, set()).add(limit.profile_key)
        elif version == held[0] and limit not in held[1]:  # another period of that message
            held[1].append(limit)

    def limits_over(self, station_id: str, start: datetime, end: datetime) -> list[ChargingLimit]:
        """The station's periods that overlap ``[start, end)``."""
        out = []
        for key in self._by_station.get(station_id, ()):
            for limit in self._profiles[key][1]:
                if limit.interval_start < end and (
                    limit.interval_end is None or limit.interval_end > start
                ):
                    out.append(limit)
        return out

    def forget_before(self, cutoff: datetime) -> None:
        """Drop periods that ended at or before ``cutoff``, and profiles left empty."""
        for key in list(self._profiles):
            version, periods = self._profiles[key]
            kept = [p for p in periods if p.interval_end is None or p.interval_end > cutoff]
            if kept:
                self._profiles[key] = (version, kept)
            else:
                station = periods[0].station_id
                del self._profiles[key]
                self._by_station[station].discard(key)
                if not self._by_station[station]:
                    del self._by_station[station]
