"""Site registry: which grid connection (site) a station belongs to.

A station the registry does not know is its own site (site id = station id) until the
registry says otherwise. The registry is plain data; the shell fills it from the
``registry.sites`` topic or the simulator's fleet and hands it to whoever needs it.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from gridstream.records import SiteAssignment


class SiteRegistry:
    """Maps stations to sites and sites to their time zone."""

    def __init__(self, default_timezone: str = "Europe/Brussels") -> None:
        """Create an empty registry; unknown sites use ``default_timezone``."""
        self._default_zone = ZoneInfo(default_timezone)
        self._by_station: dict[str, SiteAssignment] = {}
        self._zone_by_site: dict[str, ZoneInfo] = {}

    def assign(self, assignment: SiteAssignment) -> None:
        """Record (or replace) a station's site."""
        self._by_station[assignment.station_id] = assignment
        self._zone_by_site[assignment.site_id] = ZoneInfo(assignment.timezone)

    def site_of(self, station_id: str) -> str:
        """The site of ``station_id``; the station id itself when unknown."""
        entry = self._by_station.get(station_id)
        return entry.site_id if entry is not None else station_id

    def timezone_of(self, site_id: str) -> ZoneInfo:
        """The site's time zone (for days and months); the default when unknown."""
        return self._zone_by_site.get(site_id, self._default_zone)

    def assignments(self) -> list[SiteAssignment]:
        """Every known assignment."""
        return list(self._by_station.values())
