"""Site registry: which grid connection (site) a station belongs to, and what that site is.

A station the registry does not know is its own site (site id = station id) until the
registry says otherwise. The registry is plain data; the shell fills it from the
``registry.sites`` topic or the simulator's fleet and hands it to whoever needs it.

The sites file (``GRIDSTREAM_SITES_FILE``) is CSV, one row per station with the site's
fields repeated, or YAML, one entry per site with its stations and their EVSEs; both
give the same ``SiteAssignment`` entries (``parse_sites_file``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from gridstream.errors import ConfigError
from gridstream.records import SiteAssignment

#: SiteAssignment fields that belong to a station (and its EVSEs); the others are the site's.
STATION_FIELDS = ("station_id", "rated_power_w", "evses", "vendor", "model", "serial_number")


class SiteRegistry:
    """Maps stations to sites and sites to their time zone."""

    def __init__(self, default_timezone: str = "Europe/Brussels") -> None:
        """Create an empty registry; unknown sites use ``default_timezone``."""
        self._default_zone = ZoneInfo(default_timezone)
        self._by_station: dict[str, SiteAssignment] = {}
        self._zone_by_site: dict[str, ZoneInfo] = {}
        self._stations_by_site: dict[str, set[str]] = {}

    def assign(self, assignment: SiteAssignment) -> None:
        """Record (or replace) a station's site."""
        self.unassign(assignment.station_id)
        self._by_station[assignment.station_id] = assignment
        self._zone_by_site[assignment.site_id] = ZoneInfo(assignment.timezone)
        self._stations_by_site.setdefault(assignment.site_id, set()).add(assignment.station_id)

    def unassign(self, station_id: str) -> None:
        """Forget a station: it is its own site again."""
        old = self._by_station.pop(station_id, None)
        if old is not None:
            stations = self._stations_by_site.get(old.site_id, set())
            stations.discard(station_id)
            if not stations:
                self._stations_by_site.pop(old.site_id, None)

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
        for evse in entry.evses:
            if evse.evse_id == evse_id:
                return evse.rated_power_w
        return entry.rated_power_w

    def site_info(self, site_id: str) -> SiteAssignment | None:
        """An entry of one of ``site_id``'s stations (it carries the site's fields), or None.

        Every station of a site carries the same site fields (sites file and merge alike);
        the entry of the station with the lowest id is the answer, so that it is stable.
        """
        station = self._stations_by_site.get(site_id)
        return self._by_station[min(station)] if station else None

    def assignment_of(self, station_id: str) -> SiteAssignment | None:
        """The registry entry of ``station_id`` (its site's EAN, capacities, DSO, ...), or None."""
        return self._by_station.get(station_id)

    def assignments(self) -> list[SiteAssignment]:
        """Every known assignment."""
        return list(self._by_station.values())


def parse_sites_file(text: str, suffix: str, where: str = "sites file") -> list[SiteAssignment]:
    """Registry entries of a sites file: YAML when ``suffix`` is ``.yaml``/``.yml``, else CSV.

    Raises ``ConfigError`` naming where the first problem is.
    """
    if suffix.lower() in (".yaml", ".yml"):
        return parse_sites_yaml(text, where)
    return parse_sites_csv(text, where)


_EVSE_PAIR = re.compile(r"^\s*(\d+)\s*[:=]\s*([0-9.eE+-]+)\s*$")


def _evses_cell(cell: str, where: str) -> list[dict[str, str]]:
    """``"1:22000;2:11000"`` -> EVSE ratings (evse id, W); ``ConfigError`` otherwise."""
    out = []
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        match = _EVSE_PAIR.match(part)
        if match is None:
            raise ConfigError(
                f"{where}: evses: {part!r} is not EVSE_ID:RATED_POWER_W (e.g. 1:22000;2:11000)"
            )
        out.append({"evse_id": match[1], "rated_power_w": match[2]})
    return out


def _validated(values: Mapping[str, Any], where: str) -> SiteAssignment:
    try:
        assignment = SiteAssignment.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None
    try:
        ZoneInfo(assignment.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{where}: timezone {assignment.timezone!r} is not an IANA time zone ({exc})"
        ) from None
    return assignment


def parse_sites_csv(text: str, where: str = "sites file") -> list[SiteAssignment]:
    r"""Registry entries from CSV with a header of ``SiteAssignment`` field names.

    One row per station; only ``station_id`` and ``site_id`` are required; empty cells mean
    "not known". ``evses`` lists EVSE ratings as ``EVSE_ID:RATED_POWER_W`` separated by
    ``;`` (``1:22000;2:11000``). Raises ``ConfigError`` naming the line and field of the
    first bad row.

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
        here = f"{where}, line {line}"
        values: dict[str, Any] = {
            k: v.strip() for k, v in row.items() if v is not None and v.strip() != ""
        }
        if "evses" in values:
            values["evses"] = _evses_cell(values["evses"], here)
        out.append(_validated(values, here))
    return out


def parse_sites_yaml(text: str, where: str = "sites file") -> list[SiteAssignment]:
    """Registry entries from YAML: ``sites``, each with its fields and its ``stations``.

    A site has ``site_id`` and any site field of ``SiteAssignment`` (``ean``, ``name``,
    ``timezone``, ``contracted_capacity_w``, ``contracted_export_capacity_w``, ``dso``,
    ``congestion_area``, ``connection_group``, ``brp``, ``tariff_regime``) and a list of
    ``stations``; a station has ``station_id`` and any of ``rated_power_w`` (its EVSEs'
    default), ``evses`` (a mapping of EVSE id to rated power, W), ``vendor``, ``model``,
    ``serial_number``. Each station becomes one entry carrying its site's fields.
    Raises ``ConfigError`` naming the site, the station and the field of the first problem.
    """
    import yaml  # only a YAML sites file needs it

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("sites"), list):
        raise ConfigError(f"{where}: expected a mapping with a list 'sites'")
    site_fields = set(SiteAssignment.model_fields) - set(STATION_FIELDS)
    out: list[SiteAssignment] = []
    for index, site in enumerate(document["sites"], start=1):
        here = f"{where}, site {index}"
        if not isinstance(site, dict):
            raise ConfigError(f"{here}: expected a mapping")
        here = f"{where}, site {site.get('site_id', index)!s}"
        unknown = set(site) - site_fields - {"stations"}
        if unknown:
            raise ConfigError(
                f"{here}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                f"known: {', '.join(sorted(site_fields))}, stations"
            )
        stations = site.get("stations") or []
        if not isinstance(stations, list):
            raise ConfigError(f"{here}: stations must be a list")
        common = {k: v for k, v in site.items() if k != "stations"}
        for station in stations:
            if not isinstance(station, dict):
                raise ConfigError(f"{here}: a station must be a mapping")
            at = f"{here}, station {station.get('station_id', '?')!s}"
            unknown = set(station) - set(STATION_FIELDS)
            if unknown:
                raise ConfigError(
                    f"{at}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                    f"known: {', '.join(STATION_FIELDS)}"
                )
            values = {**common, **station}
            evses = station.get("evses") or {}
            if not isinstance(evses, dict):
                raise ConfigError(f"{at}: evses must map EVSE id to rated power (W)")
            values["evses"] = [{"evse_id": k, "rated_power_w": v} for k, v in evses.items()]
            out.append(_validated(values, at))
    return out
