"""OCPI Sessions (receiver interface, PUT and PATCH) -> meter samples and session events.

``put_session`` and ``patch_session`` map ``(state, request)`` to ``(state, result)``
(STYLE.md rule 9); the shell keeps the new state only once the result's records are
published, so a failed publish is retried for real.

Rules (OCPI 2.2.1 mod_sessions, PROTOCOLS.md §5):

- PUT replaces the session, its ``charging_periods`` included; PATCH must carry
  ``last_updated`` and its ``charging_periods`` are *appended*.
- Order-safe: a PUT or PATCH whose ``last_updated`` is older than the one held changes no
  field (no roll-back of ``status``, ``kwh``, ``end_date_time``); the periods it carries
  are still facts and are merged by start time, since periods only ever get added.
- Idempotent: periods are keyed by their start, so a PATCH sent twice appends nothing the
  second time; readings derive deterministically from the periods
  (``connectors.ocpi.dimensions``) and only instants whose readings changed are published.
- Session events: ``started`` (at ``start_date_time``, import register 0 Wh) the first time
  a session is seen, ``updated`` (at ``last_updated``, charging state = OCPI status, the
  session's ``kwh`` so far) for every newer version, ``ended`` (at ``end_date_time``, with
  the session's ``kwh``) once it is COMPLETED or INVALID.
- Ids: ``station_id`` is ``{country_code}*{party_id}*{evse_uid}`` (a ``:``-free id that no
  two partners share), ``transaction_id`` the session id; ``evse_id`` is None (OCPI EVSE
  uids are strings), ``connector_id`` the connector id when it is a number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from connectors.ocpi.dimensions import (
    EnergyUnit,
    Period,
    energy_unit,
    read_periods,
    readings_by_instant,
)
from connectors.ocpi.wire import (
    Accepted,
    PartyRef,
    Rejected,
    Result,
    WireError,
    number,
    parse_datetime,
    string,
)
from gridstream.records import (
    MeterSample,
    Reading,
    Record,
    Source,
    TransactionEvent,
    TransactionEventType,
)
from gridstream.units import to_canonical

STATUSES: Final = frozenset({"ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"})
AUTH_METHODS: Final = frozenset({"AUTH_REQUEST", "COMMAND", "WHITELIST"})
_ENDED: Final = frozenset({"COMPLETED", "INVALID"})
_REQUIRED: Final = (
    "country_code",
    "party_id",
    "id",
    "start_date_time",
    "kwh",
    "cdr_token",
    "auth_method",
    "location_id",
    "evse_uid",
    "connector_id",
    "currency",
    "status",
    "last_updated",
)


@dataclass(frozen=True)
class Context:
    """What a request's records need besides its body (injected by the shell)."""

    received_at: datetime
    source: Source
    #: The site of a station id (the site registry's lookup).
    site_of: Callable[[str], str]
    #: The request's X-Request-ID, kept as the records' message id.
    request_id: str | None = None


@dataclass(frozen=True)
class SessionState:
    """What the receiver holds of one session: its fields, periods, and what it published."""

    party: PartyRef
    session_id: str
    fields: Mapping[str, Any]
    last_updated: datetime
    periods: Mapping[datetime, Period] = field(default_factory=dict)
    unit: EnergyUnit = "kWh"
    #: Readings published per instant, so only changed instants are published again.
    published: Mapping[datetime, tuple[Reading, ...]] = field(default_factory=dict)
    ended: bool = False


SessionKey = tuple[str, str, str]
"""(country_code, party_id, session id)."""


def station_id(party: PartyRef, evse_uid: str) -> str:
    """The station id of an OCPI EVSE: ``{country_code}*{party_id}*{evse_uid}``.

    >>> station_id(PartyRef("BE", "BEC"), "3256")
    'BE*BEC*3256'
    """
    return f"{party.country_code}*{party.party_id}*{evse_uid}"


def _check_fields(body: Mapping[str, Any], *, whole: bool) -> None:
    """Validate the fields present in ``body`` (all required ones when ``whole``)."""
    where = "session"
    if whole:
        missing = [k for k in _REQUIRED if body.get(k) is None]
        if missing:
            raise WireError(f"{where}: required field(s) missing: {', '.join(missing)}")
    for key in ("country_code", "party_id", "location_id", "evse_uid", "connector_id"):
        if key in body:
            string(body, key, where, max_len=36)
    if "id" in body:
        string(body, "id", where, max_len=36)
    if "currency" in body:
        string(body, "currency", where, max_len=3)
    for key in ("start_date_time", "end_date_time", "last_updated"):
        if body.get(key) is not None:
            parse_datetime(body[key], f"{where}.{key}")
    if "kwh" in body:
        kwh = number(body["kwh"], f"{where}.kwh")
        if kwh < 0:
            raise WireError(f"{where}.kwh: must be >= 0, got {kwh}")
    if "status" in body and (not isinstance(body["status"], str) or body["status"] not in STATUSES):
        raise WireError(
            f"{where}.status: {body['status']!r} is not one of {', '.join(sorted(STATUSES))}"
        )
    if "auth_method" in body and (
        not isinstance(body["auth_method"], str) or body["auth_method"] not in AUTH_METHODS
    ):
        raise WireError(
            f"{where}.auth_method: {body['auth_method']!r} is not one of "
            + ", ".join(sorted(AUTH_METHODS))
        )
    if "cdr_token" in body and not isinstance(body["cdr_token"], dict):
        raise WireError(f"{where}.cdr_token: expected an object")


def _ids_match(body: Mapping[str, Any], party: PartyRef, session_id: str) -> Rejected | None:
    for key, expected in (
        ("country_code", party.country_code),
        ("party_id", party.party_id),
        ("id", session_id),
    ):
        if key in body and body[key] != expected:
            return Rejected(
                "id_mismatch", f"session.{key} is {body[key]!r} but the URL says {expected!r}"
            )
    return None


def put_session(
    state: SessionState | None,
    party: PartyRef,
    session_id: str,
    body: Mapping[str, Any],
    ctx: Context,
) -> tuple[SessionState | None, Result]:
    """A PUT of the whole session ``party``/``session_id``: new state and result."""
    mismatch = _ids_match(body, party, session_id)
    if mismatch is not None:
        return state, mismatch
    try:
        _check_fields(body, whole=True)
        periods = read_periods(body.get("charging_periods"), "session.charging_periods")
    except WireError as exc:
        return state, Rejected("schema_violation", str(exc))
    last_updated = parse_datetime(body["last_updated"], "last_updated")
    if state is not None and last_updated < state.last_updated:
        # Older than what we hold: its fields would roll back; its periods are facts.
        merged = {**{p.start: p for p in periods}, **state.periods}
        return _publish(state, replace(state, periods=merged), ctx, stale=True)
    fields = {k: v for k, v in body.items() if k != "charging_periods"}
    new = SessionState(
        party,
        session_id,
        fields,
        last_updated,
        {p.start: p for p in periods},  # PUT replaces the periods (none: removed)
        state.unit if state is not None else "kWh",
        state.published if state is not None else {},
        state.ended if state is not None else False,
    )
    return _publish(state, new, ctx, stale=False)


def patch_session(
    state: SessionState | None,
    party: PartyRef,
    session_id: str,
    body: Mapping[str, Any],
    ctx: Context,
) -> tuple[SessionState | None, Result]:
    """A PATCH of part of the session: new state and result (see the module docstring)."""
    mismatch = _ids_match(body, party, session_id)
    if mismatch is not None:
        return state, mismatch
    if body.get("last_updated") is None:
        return state, Rejected("schema_violation", "session PATCH: last_updated is required")
    try:
        _check_fields(body, whole=False)
        periods = read_periods(body.get("charging_periods"), "session.charging_periods")
    except WireError as exc:
        return state, Rejected("schema_violation", str(exc))
    if state is None:
        return state, Rejected(
            "unknown_object", f"session {party}/{session_id} is not known: PUT it first"
        )
    last_updated = parse_datetime(body["last_updated"], "last_updated")
    stale = last_updated < state.last_updated
    if stale:  # keep what we hold on a clash: it is newer
        merged = {**{p.start: p for p in periods}, **state.periods}
        return _publish(state, replace(state, periods=merged), ctx, stale=True)
    fields = {**state.fields, **{k: v for k, v in body.items() if k != "charging_periods"}}
    merged = {**state.periods, **{p.start: p for p in periods}}
    new = replace(state, fields=fields, last_updated=last_updated, periods=merged)
    return _publish(state, new, ctx, stale=False)


def _publish(
    old: SessionState | None, new: SessionState, ctx: Context, *, stale: bool
) -> tuple[SessionState, Result]:
    """Records for what changed from ``old`` to ``new``; ``new`` remembers them."""
    f = new.fields
    kwh = float(f["kwh"])
    unit: EnergyUnit = "Wh" if new.unit == "Wh" else energy_unit(list(new.periods.values()), kwh)
    end = parse_datetime(f["end_date_time"], "end") if f.get("end_date_time") else None
    station = station_id(new.party, str(f["evse_uid"]))
    site = ctx.site_of(station)
    connector = str(f["connector_id"])
    connector_id = int(connector) if connector.isdigit() else None
    kwh_only = not any(p.has_energy() for p in new.periods.values()) and kwh > 0
    since = None if kwh_only else _changed_since(old, new, unit, end)
    wanted = readings_by_instant(list(new.periods.values()), end, unit, since)
    if kwh_only:
        # No energy in the periods (many partners send none): the kwh total is the register.
        start = parse_datetime(f["start_date_time"], "start_date_time")
        wanted[start] = _kwh_register(0.0, wanted.get(start, ()))
        at = end if end is not None else new.last_updated
        wanted[at] = _kwh_register(kwh, wanted.get(at, ()))
    records: list[Record] = []
    published = dict(new.published)
    for ts in sorted(wanted):
        if published.get(ts) == wanted[ts]:
            continue
        published[ts] = wanted[ts]
        records.append(
            MeterSample(
                ts=ts,
                station_id=station,
                site_id=site,
                connector_id=connector_id,
                transaction_id=new.session_id,
                source=ctx.source,
                message_id=ctx.request_id,
                received_at=ctx.received_at,
                readings=wanted[ts],
            )
        )
    events: list[Record] = []
    ended = new.ended
    kwh_wh = to_canonical(kwh, "kWh")[0]

    def event(kind: TransactionEventType, ts: datetime, meter_wh: float | None) -> TransactionEvent:
        return TransactionEvent(
            ts=ts,
            station_id=station,
            site_id=site,
            connector_id=connector_id,
            transaction_id=new.session_id,
            event_type=kind,
            source=ctx.source,
            message_id=ctx.request_id,
            received_at=ctx.received_at,
            charging_state=str(f["status"]),
            meter_wh=meter_wh,
        )

    changed = old is None or old.fields != new.fields or old.periods != new.periods
    if not stale and changed:  # the same version sent again tells nothing new
        if old is None:
            start = parse_datetime(f["start_date_time"], "start_date_time")
            events.append(event("started", start, 0.0))
        events.append(event("updated", new.last_updated, kwh_wh))
        if f["status"] in _ENDED and not ended:
            events.append(event("ended", end or new.last_updated, kwh_wh))
            ended = True
    state = replace(new, unit=unit, published=published, ended=ended)
    note = "older than the session held (by last_updated): fields kept" if stale else None
    return state, Accepted(tuple(events + records), None, note)


#: Later than any instant: nothing to rebuild.
_NEVER: Final = datetime.max.replace(tzinfo=UTC)


def _changed_since(
    old: SessionState | None, new: SessionState, unit: EnergyUnit, end: datetime | None
) -> datetime | None:
    """The earliest instant whose readings may differ from ``old``'s (None: all of them)."""
    if old is None or unit != old.unit:
        return None
    if any(p.has_energy() for p in old.periods.values()) != any(
        p.has_energy() for p in new.periods.values()
    ):
        return None  # registers appear at (or vanish from) every instant
    starts = [start for start, p in new.periods.items() if old.periods.get(start) != p]
    starts += [start for start in old.periods if start not in new.periods]
    old_end = old.fields.get("end_date_time")
    if (end.isoformat() if end else None) != (
        parse_datetime(old_end, "end").isoformat() if old_end else None
    ):
        starts += [t for t in (end, parse_datetime(old_end, "end") if old_end else None) if t]
    return min(starts, default=_NEVER)


def _kwh_register(kwh: float, others: tuple[Reading, ...]) -> tuple[Reading, ...]:
    value, unit = to_canonical(kwh, "kWh")
    register = Reading(
        measurand="Energy.Active.Import.Register", value=value, unit=unit, context="Sample.Periodic"
    )
    return (register, *(r for r in others if r.measurand != register.measurand))


def key_of(party: PartyRef, session_id: str) -> SessionKey:
    """The store key of a session."""
    return (party.country_code, party.party_id, session_id)


def session_view(state: SessionState) -> dict[str, Any]:
    """The session as the receiver holds it (GET), its periods included, OCPI-shaped."""
    out = dict(state.fields)
    out["charging_periods"] = [
        {
            "start_date_time": p.start.isoformat().replace("+00:00", "Z"),
            "dimensions": [{"type": t, "volume": v} for t, v in p.volumes],
            **({"tariff_id": p.tariff_id} if p.tariff_id else {}),
        }
        for p in sorted(state.periods.values(), key=lambda p: p.start)
    ]
    return out


__all__ = [
    "Context",
    "SessionKey",
    "SessionState",
    "key_of",
    "patch_session",
    "put_session",
    "session_view",
    "station_id",
]
