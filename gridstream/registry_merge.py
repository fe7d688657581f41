"""One registry entry per station from three sources: the sites file, OCPI Locations, boots.

- The sites file (or the simulator's fleet) is what the operator says: it wins, field by
  field, wherever it gives a value (a field left empty there is not "given").
- An OCPI Location says where a roaming partner's EVSE is: its station
  (``{cc}*{party}*{evse_uid}``, one EVSE each) belongs to the site
  ``{cc}*{party}*{location_id}`` (the grid connection the location stands for), in the
  location's time zone, with the EVSE's max power as rated power (OCPI readings carry no
  EVSE id, so the station's own rating is the one their pairs are bounded by).
- An OCPP BootNotification says what the station is: vendor, model, serial number.

A station no source places is its own site, as the registry's default says. The merge is
plain data: the connector's shell feeds it the latest record of each source and publishes
the entries that changed on ``registry.sites`` (``gridstream.parts``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from gridstream.records import OcpiEvse, SiteAssignment, StationInfo


def ocpi_site_id(evse: OcpiEvse) -> str:
    """The site of an OCPI location: ``{country_code}*{party_id}*{location_id}``.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> ocpi_site_id(OcpiEvse(station_id="BE*BEC*3256", site_id="BE*BEC*3256",
    ...     country_code="BE", party_id="BEC", location_id="LOC1", evse_uid="3256",
    ...     status="AVAILABLE", ts=t, source="ocpi2.2.1", received_at=t))
    'BE*BEC*LOC1'
    """
    return f"{evse.country_code}*{evse.party_id}*{evse.location_id}"


def _zone(name: str | None) -> str | None:
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # a partner's bad time zone must not take the registry's default away
    return name


def merge_station(
    station_id: str,
    configured: SiteAssignment | None,
    evse: OcpiEvse | None,
    boot: StationInfo | None,
) -> SiteAssignment | None:
    """The registry entry of ``station_id`` from its sources; None when none says anything."""
    if configured is None and evse is None and boot is None:
        return None
    values: dict[str, Any] = {"station_id": station_id, "site_id": station_id}
    if boot is not None:
        values.update(vendor=boot.vendor, model=boot.model)
        if boot.serial_number:
            values["serial_number"] = boot.serial_number
    if evse is not None:
        values["site_id"] = ocpi_site_id(evse)
        zone = _zone(evse.time_zone)
        if zone is not None:
            values["timezone"] = zone
        if evse.max_power_w is not None and evse.max_power_w > 0:
            values["rated_power_w"] = evse.max_power_w
    if configured is not None:
        values.update({k: getattr(configured, k) for k in configured.model_fields_set})
    try:
        return SiteAssignment.model_validate(values)
    except ValidationError:  # only the sources' own values, each valid: cannot happen
        return configured


class RegistryMerge:
    """The latest record of each source per station, and the entries last published."""

    def __init__(self, configured: Iterable[SiteAssignment] = ()) -> None:
        """Start from the operator's entries (the sites file, the simulator's fleet)."""
        self._configured: dict[str, SiteAssignment] = {a.station_id: a for a in configured}
        self._evses: dict[str, OcpiEvse] = {}
        self._boots: dict[str, StationInfo] = {}
        self._published: dict[str, SiteAssignment] = {}

    def start(self) -> list[SiteAssignment]:
        """The configured stations' entries, to publish at start."""
        return self._changed(self._configured)

    def boot(self, info: StationInfo) -> list[SiteAssignment]:
        """Take a station's boot; the entries that changed (to publish)."""
        held = self._boots.get(info.station_id)
        if held is not None and held.received_at > info.received_at:
            return []  # an older boot replayed: the station is what it said last
        self._boots[info.station_id] = info
        return self._changed([info.station_id])

    def location_evse(self, evse: OcpiEvse) -> list[SiteAssignment]:
        """Take an OCPI EVSE as its location now says it; the entries that changed."""
        held = self._evses.get(evse.station_id)
        if held is not None and held.ts > evse.ts:
            return []  # the locations module publishes in order; a replay is older
        self._evses[evse.station_id] = evse
        return self._changed([evse.station_id])

    def _changed(self, stations: Iterable[str]) -> list[SiteAssignment]:
        out = []
        for station in stations:
            entry = merge_station(
                station,
                self._configured.get(station),
                self._evses.get(station),
                self._boots.get(station),
            )
            if entry is not None and entry != self._published.get(station):
                self._published[station] = entry
                out.append(entry)
        return out

    @property
    def published(self) -> Mapping[str, SiteAssignment]:
        """The entry last published per station."""
        return self._published
