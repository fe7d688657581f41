"""OCPI CDRs (receiver interface, POST) -> ``OcpiCdr`` records (OCPI 2.2.1 mod_cdrs).

A CDR is final: it cannot be changed, only POSTed once. The same CDR POSTed again (a
partner retrying after a lost answer) is accepted and publishes nothing; another CDR under
an id already held is refused (``id_mismatch``: a CDR must get a new id, or a credit CDR).
Energy and times are converted at the edge: ``total_energy`` kWh -> Wh, ``total_time`` and
``total_parking_time`` hours -> seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connectors.ocpi.sessions import Context, station_id
from connectors.ocpi.wire import (
    Accepted,
    PartyRef,
    Rejected,
    Result,
    WireError,
    number,
    optional_string,
    parse_datetime,
    string,
)
from gridstream.records import OcpiCdr
from gridstream.units import to_canonical

_REQUIRED: Final = (
    "country_code",
    "party_id",
    "id",
    "start_date_time",
    "end_date_time",
    "cdr_token",
    "auth_method",
    "cdr_location",
    "currency",
    "charging_periods",
    "total_cost",
    "total_energy",
    "total_time",
    "last_updated",
)


def read_cdr(body: Mapping[str, Any], ctx: Context) -> OcpiCdr:
    """Read a CDR object into its record; ``WireError`` names the bad field."""
    missing = [k for k in _REQUIRED if body.get(k) is None]
    if missing:
        raise WireError(f"cdr: required field(s) missing: {', '.join(missing)}")
    party = PartyRef(
        string(body, "country_code", "cdr", max_len=2), string(body, "party_id", "cdr", max_len=3)
    )
    location = body["cdr_location"]
    cost = body["total_cost"]
    if not isinstance(location, Mapping) or not isinstance(cost, Mapping):
        raise WireError("cdr.cdr_location and cdr.total_cost must be objects")
    evse_uid = string(location, "evse_uid", "cdr.cdr_location", max_len=36)
    station = station_id(party, evse_uid)
    parking = body.get("total_parking_time")
    return OcpiCdr(
        cdr_id=string(body, "id", "cdr", max_len=39),
        country_code=party.country_code,
        party_id=party.party_id,
        station_id=station,
        site_id=ctx.site_of(station),
        transaction_id=optional_string(body, "session_id", "cdr"),
        location_id=string(location, "id", "cdr.cdr_location", max_len=36),
        evse_uid=evse_uid,
        connector_id=optional_string(location, "connector_id", "cdr.cdr_location"),
        started_at=parse_datetime(body["start_date_time"], "cdr.start_date_time"),
        ended_at=parse_datetime(body["end_date_time"], "cdr.end_date_time"),
        total_energy_wh=to_canonical(number(body["total_energy"], "cdr.total_energy"), "kWh")[0],
        total_time_s=round(number(body["total_time"], "cdr.total_time") * 3600.0, 6),
        total_parking_time_s=(
            None
            if parking is None
            else round(number(parking, "cdr.total_parking_time") * 3600.0, 6)
        ),
        currency=string(body, "currency", "cdr", max_len=3),
        total_cost_excl_vat=number(cost.get("excl_vat"), "cdr.total_cost.excl_vat"),
        total_cost_incl_vat=(
            None
            if cost.get("incl_vat") is None
            else number(cost["incl_vat"], "cdr.total_cost.incl_vat")
        ),
        ts=parse_datetime(body["last_updated"], "cdr.last_updated"),
        source=ctx.source,
        received_at=ctx.received_at,
    )


def post_cdr(
    held: OcpiCdr | None, body: Mapping[str, Any], ctx: Context
) -> tuple[OcpiCdr | None, Result]:
    """A POSTed CDR: the record to keep and the result (``held``: the CDR under its id)."""
    try:
        cdr = read_cdr(body, ctx)
    except WireError as exc:
        return held, Rejected("schema_violation", str(exc))
    if held is not None:
        same = held.model_dump(exclude={"received_at", "site_id"}) == cdr.model_dump(
            exclude={"received_at", "site_id"}
        )
        if same:
            return held, Accepted((), None, "CDR posted again: nothing new")
        return held, Rejected(
            "id_mismatch", f"cdr {cdr.cdr_id} exists with other content: a CDR cannot change"
        )
    return cdr, Accepted((cdr,))


def cdr_key(body: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(country_code, party_id, id) of a CDR body, or None when one is not a string."""
    parts = (body.get("country_code"), body.get("party_id"), body.get("id"))
    if all(isinstance(p, str) for p in parts):
        return (str(parts[0]), str(parts[1]), str(parts[2]))
    return None
