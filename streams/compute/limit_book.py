"""The charging limits stations were given, as every worker knows them (a side input).

``ChargingLimit`` records come on ``charging.limits`` (``streams.limit_feed`` feeds this
book): one per schedule period of a profile or reported limit. A later message for the same
``profile_key`` (OCPP: the same EVSE, purpose and stack level; for external limits the same
EVSE and source) replaces the profile from where its own schedule starts: the earlier
message's periods before that are kept, cut there, since they were in force until then
(a quarter-hour a profile changes in is judged against both, weighted by time). Pure
bookkeeping, no I/O.
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
        """Keep ``limit``: a newer message for its profile replaces the profile's periods.

        From the message's first period on; before it, the older periods stay, cut there.
        """
        version = _version(limit)
        held = self._profiles.get(limit.profile_key)
        if held is None or version > held[0]:
            earlier = [] if held is None else _cut(held[1], limit.interval_start)
            self._profiles[limit.profile_key] = (version, [*earlier, limit])
            self._by_station.setdefault(limit.station_id, set()).add(limit.profile_key)
        elif version == held[0] and limit not in held[1]:  # another period of that message
            current = [p for p in held[1] if _version(p) == version]
            earlier = _cut([p for p in held[1] if _version(p) != version], limit.interval_start)
            self._profiles[limit.profile_key] = (version, [*earlier, *current, limit])

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


def _version(limit: ChargingLimit) -> _Version:
    """Which message a period came in: when it was received, and its id."""
    return (limit.received_at, limit.message_id or "")


def _cut(periods: list[ChargingLimit], at: datetime) -> list[ChargingLimit]:
    """``periods`` as in force until ``at``: those starting later dropped, the rest ended."""
    return [
        p if p.interval_end is not None and p.interval_end <= at
        else p.model_copy(update={"interval_end": at})
        for p in periods
        if p.interval_start < at
    ]  # fmt: skip
