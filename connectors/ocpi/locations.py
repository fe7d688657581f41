"""OCPI Locations (receiver interface, PUT and PATCH) -> ``OcpiEvse`` records.

Location level (``/{cc}/{pid}/{location_id}``) and EVSE level (``.../{evse_uid}``): PUT
replaces the object, PATCH merges its top-level fields (an ``evses`` list in a location
PATCH replaces the list). A PATCH, or an EVSE PUT, for a location never PUT is refused with
2003 (unknown location). An object older (``last_updated``) than the one held changes
nothing. After each change, every EVSE of the location whose record differs from the one
last published is published again (one ``OcpiEvse`` per EVSE: max power, coordinates,
status), keyed by station id on a compacted topic, from which the connector's registry
merge (``gridstream.registry_merge``) places each EVSE on its location's site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from connectors.ocpi.sessions import Context, station_id
from connectors.ocpi.wire import (
    Accepted,
    PartyRef,
    Rejected,
    Result,
    WireError,
    number,
    objects,
    optional_string,
    parse_datetime,
    string,
)
from gridstream.records import OcpiEvse, Record
from gridstream.units import to_canonical

_PHASES: Final = {"AC_1_PHASE": 1, "AC_2_PHASE": 2, "AC_2_PHASE_SPLIT": 2, "AC_3_PHASE": 3}


@dataclass(frozen=True)
class LocationState:
    """A location as held: its fields (``evses`` included) and what was published."""

    fields: Mapping[str, Any]
    last_updated: datetime
    published: Mapping[str, OcpiEvse] = field(default_factory=dict)


def _coordinate(obj: Mapping[str, Any] | None, key: str) -> float | None:
    """OCPI coordinates are decimal *strings* (GeoLocation); a number is taken too."""
    if not isinstance(obj, Mapping) or obj.get(key) is None:
        return None
    value = obj[key]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise WireError(f"coordinates.{key}: expected a decimal string, got {value!r}") from None


def connector_phases(fields: Mapping[str, Any], evse_uid: str, connector_id: str) -> int | None:
    """The AC phases of a location's connector (its ``power_type``); None: DC or not known.

    >>> location = {"evses": [{"uid": "E1", "connectors": [
    ...     {"id": "1", "power_type": "AC_1_PHASE"}, {"id": "2", "power_type": "DC"}]}]}
    >>> connector_phases(location, "E1", "1"), connector_phases(location, "E1", "2")
    (1, None)
    """
    for evse in fields.get("evses") or ():
        if isinstance(evse, Mapping) and evse.get("uid") == evse_uid:
            for conn in evse.get("connectors") or ():
                if isinstance(conn, Mapping) and str(conn.get("id")) == connector_id:
                    return _PHASES.get(str(conn.get("power_type")))
    return None


def max_power_w(connectors: object) -> float | None:
    """The most any connector of an EVSE can deliver, W (see ``OcpiEvse``).

    >>> max_power_w([{"power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 16}])
    11040.0
    >>> max_power_w([{"power_type": "DC", "max_voltage": 400, "max_amperage": 125,
    ...               "max_electric_power": 50000}])
    50000.0
    """
    best: float | None = None
    for k, conn in enumerate(objects(connectors, "evse.connectors")):
        where = f"evse.connectors[{k}]"
        if conn.get("max_electric_power") is not None:
            watts = number(conn["max_electric_power"], f"{where}.max_electric_power")
        elif conn.get("max_voltage") is not None and conn.get("max_amperage") is not None:
            volts = number(conn["max_voltage"], f"{where}.max_voltage")
            amps = number(conn["max_amperage"], f"{where}.max_amperage")
            watts = volts * amps * _PHASES.get(str(conn.get("power_type")), 1)
        else:
            continue
        watts = to_canonical(watts, "W")[0]
        best = watts if best is None else max(best, watts)
    return best


def evse_records(
    party: PartyRef, location_id: str, fields: Mapping[str, Any], ctx: Context
) -> dict[str, OcpiEvse]:
    """One record per EVSE of a location, by EVSE uid."""
    out: dict[str, OcpiEvse] = {}
    loc_coords = fields.get("coordinates")
    loc_updated = parse_datetime(fields.get("last_updated"), "location.last_updated")
    for k, evse in enumerate(objects(fields.get("evses"), "location.evses")):
        where = f"location.evses[{k}]"
        uid = string(evse, "uid", where, max_len=36)
        coords = evse.get("coordinates") or loc_coords
        station = station_id(party, uid)
        updated = evse.get("last_updated")
        connectors = objects(evse.get("connectors"), f"{where}.connectors")
        out[uid] = OcpiEvse(
            station_id=station,
            site_id=ctx.site_of(station),
            country_code=party.country_code,
            party_id=party.party_id,
            location_id=location_id,
            evse_uid=uid,
            evse_id=optional_string(evse, "evse_id", where),
            status=string(evse, "status", where),
            max_power_w=max_power_w(connectors),
            connector_ids=tuple(str(c.get("id")) for c in connectors),
            latitude=_coordinate(coords, "latitude"),
            longitude=_coordinate(coords, "longitude"),
            time_zone=optional_string(fields, "time_zone", "location"),
            ts=parse_datetime(updated, f"{where}.last_updated") if updated else loc_updated,
            source=ctx.source,
            received_at=ctx.received_at,
        )
    return out


def _ids_match(body: Mapping[str, Any], expected: Mapping[str, str]) -> Rejected | None:
    for key, value in expected.items():
        if key in body and body[key] != value:
            return Rejected("id_mismatch", f"{key} is {body[key]!r} but the URL says {value!r}")
    return None


def _changed(
    state: LocationState, party: PartyRef, location_id: str, ctx: Context
) -> tuple[LocationState, Result]:
    records = evse_records(party, location_id, state.fields, ctx)
    out: list[Record] = []
    published = dict(state.published)
    for uid, record in records.items():
        held = published.get(uid)
        if held is None or held.model_dump(exclude={"received_at"}) != record.model_dump(
            exclude={"received_at"}
        ):
            published[uid] = record
            out.append(record)
    return replace(state, published=published), Accepted(tuple(out))


def put_location(
    state: LocationState | None,
    party: PartyRef,
    location_id: str,
    evse_uid: str | None,
    body: Mapping[str, Any],
    ctx: Context,
) -> tuple[LocationState | None, Result]:
    """PUT of a whole location (``evse_uid`` None) or of one of its EVSEs."""
    ids = (
        {"country_code": party.country_code, "party_id": party.party_id, "id": location_id}
        if evse_uid is None
        else {"uid": evse_uid}
    )
    mismatch = _ids_match(body, ids)
    if mismatch is not None:
        return state, mismatch
    if evse_uid is not None and state is None:
        return state, Rejected("unknown_location", f"location {party}/{location_id} not known")
    try:
        updated = parse_datetime(body.get("last_updated"), "last_updated")
        if state is not None and updated < state.last_updated:
            return state, Accepted((), None, "older than the location held: nothing changed")
        if evse_uid is None:
            new = LocationState(dict(body), updated, state.published if state else {})
        else:
            assert state is not None
            evses = [
                e for e in objects(state.fields.get("evses"), "evses") if e.get("uid") != evse_uid
            ]
            fields = {**state.fields, "evses": [*evses, dict(body)]}
            new = replace(state, fields=fields, last_updated=max(updated, state.last_updated))
        return _changed(new, party, location_id, ctx)
    except WireError as exc:
        return state, Rejected("schema_violation", str(exc))


def patch_location(
    state: LocationState | None,
    party: PartyRef,
    location_id: str,
    evse_uid: str | None,
    body: Mapping[str, Any],
    ctx: Context,
) -> tuple[LocationState | None, Result]:
    """PATCH of a location (``evse_uid`` None) or of one of its EVSEs."""
    if body.get("last_updated") is None:
        return state, Rejected("schema_violation", "location PATCH: last_updated is required")
    if state is None:
        return state, Rejected("unknown_location", f"location {party}/{location_id} not known")
    try:
        updated = parse_datetime(body["last_updated"], "last_updated")
        if updated < state.last_updated:
            return state, Accepted((), None, "older than the location held: nothing changed")
        if evse_uid is None:
            fields = {**state.fields, **body}
        else:
            evses = [dict(e) for e in objects(state.fields.get("evses"), "evses")]
            target = next((e for e in evses if e.get("uid") == evse_uid), None)
            if target is None:
                return state, Rejected(
                    "unknown_location", f"EVSE {evse_uid} of {party}/{location_id} not known"
                )
            target.update(body)
            fields = {**state.fields, "evses": evses}
        return _changed(
            replace(state, fields=fields, last_updated=updated), party, location_id, ctx
        )
    except WireError as exc:
        return state, Rejected("schema_violation", str(exc))
