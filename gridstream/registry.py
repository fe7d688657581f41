"""Site registry: which grid connection (site) a station belongs to.

A station the registry does not know is its own site (site id = station id) until the
registry says otherwise. The registry is plain data; the shell fills it from the
``registry.sites`` topic or the simulator's fleet and hands it to whoever needs it.
"""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from gridstream.errors import ConfigError
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

    def unassign(self, station_id: str) -> None:
        """Forget a station: it is its own site again."""
        self._by_station.pop(station_id, None)

    def site_of(self, station_id: str) -> str:
        """The site of ``station_id``; the station id itself when unknown."""
        entry = self._by_station.get(station_id)
        return entry.site_id if entry is not None else station_id

    def timezone_of(self, site_id: str) -> ZoneInfo:
        """The site's time zone (for days and months); the default when unknown."""
        return self._zone_by_site.get(site_id, self._default_zone)

    def rated_power_w(self, station_id: str, evse_id: int | None = None) -> float | None:
        """The rated power (W) of an EVSE of ``station_id``; None when the registry does not say.

        ``evse_id`` None (not known) is one of its EVSEs; 0, the station's main meter, sums
        all of them, so its bound is not one EVSE's: None.
        """
        entry = self._by_station.get(station_id)
        if entry is None or evse_id == 0:
            return None
        return entry.rated_power_w

    def assignments(self) -> list[SiteAssignment]:
        """Every known assignment."""
        return list(self._by_station.values())


def parse_sites_csv(text: str, where: str = "sites file") -> list[SiteAssignment]:
    r"""Registry entries from CSV with a header of ``SiteAssignment`` field names.

    Only ``station_id`` and ``site_id`` are required; empty cells mean "not known".
    Raises ``ConfigError`` naming the line and field of the first bad row.

    >>> [a.site_id for a in parse_sites_csv("station_id,site_id\nCP-1,EAN-541448\n")]
    ['EAN-541448']
    """
    reader = csv.DictReader(io.StringIO(text))
    known = set(SiteAssignment.model_fields)
    unknown = set(reader.fieldnames or ()) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown column(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(SiteAssignment.model_fields)}"
        )
    out: list[SiteAssignment] = []
    for line, row in enumerate(reader, start=2):
        values = {k: v.strip() for k, v in row.items() if v is not None and v.strip() != ""}
        try:
            assignment = SiteAssignment.model_validate(values)
            ZoneInfo(assignment.timezone)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{where}, line {line}: {problems}") from None
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"{where}, line {line}: timezone {assignment.timezone!r} is not an IANA "
                f"time zone ({exc})"
            ) from None
        out.append(assignment)
    return out
