"""OCPI ChargingProfiles (gridstream as the SCSP/eMSP, Sender interface) -> ``ChargingLimit``.

What a CPO tells gridstream a session may draw (OCPI 2.2.1 mod_charging_profiles):

- ``PUT {chargingprofiles}/{session_id}``: an ``ActiveChargingProfile``, the profile the
  charge point computed for the session from every input it has (the CPO pushes it whenever
  it changes, and "no profile" as the EVSE's maximum);
- ``POST`` to a ``response_url`` (gridstream's is ``{chargingprofiles}/{session_id}``,
  optionally ``/{request_id}``): the asynchronous result of a SetChargingProfile (PUT),
  GetActiveChargingProfile (GET) or ClearChargingProfile (DELETE) sent to the CPO.
  ``ChargingProfileResult`` and ``ClearProfileResult`` carry only ``result`` (ACCEPTED,
  REJECTED, UNKNOWN): nothing to judge, so they are taken and publish nothing (the CPO
  PUTs the ActiveChargingProfile that follows them). An ``ActiveChargingProfileResult``
  ACCEPTED with its ``profile`` is read as a PUT of that profile.

Each ActiveChargingProfile becomes one ``ChargingLimit`` per ``charging_profile_period``:
``[start_date_time + start_period, start of the next period)``, the last one until
``start_date_time + duration`` (open-ended without a duration: until the session ends,
which is as far as a session's profile goes). Periods are relative to the
ActiveChargingProfile's own ``start_date_time`` ("all time measurements within the profile
are relative to this timestamp"); the inner ``charging_profile.start_date_time`` does not
move them. ``limit`` is in ``charging_rate_unit``: W as it is, A per phase times 230 V times
the phases of the session's connector (its Location's ``power_type``: AC_1_PHASE 1,
AC_2_PHASE 2, AC_3_PHASE 3), 3 when gridstream holds no such Location, as
``ChargingLimit`` documents. ``min_charging_rate`` (the EV's lowest useful rate) is read
and checked, not kept: it is no limit.

Every period is a ``TxProfile`` of the session (``transaction_id``) on ``evse_id`` 0 of the
station ``{country_code}*{party_id}*{evse_uid}`` (one EVSE), ``limit_source``
``OCPI:{country_code}*{party_id}`` of the CPO, ``profile_key``
``{station}|session|{session_id}``: one profile per session, which the next PUT replaces.
The charge point recomputes from the moment it says, not before, so a PUT replaces the
profile from its ``start_date_time`` on: the periods held before it are published again
with it, clipped there (up to ``HISTORY`` back; a period the PUT continues with the same
limit is merged with it), and the quarter-hour the change falls in stays fully covered.
An OCPI 3.0 (draft) ``charging_profile.id`` is kept as ``charging_profile_id`` (and as
``profile_id`` when it is a whole number), which is what OCPI 3.0 meter samples name.

Pure: ``(held, request) -> (held, result)``; the shell looks the session up, keeps the new
state once the records are published, and answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from connectors.ocpi.locations import LocationState, connector_phases
from connectors.ocpi.sessions import Context, SessionKey, SessionState, key_of, station_id
from connectors.ocpi.wire import (
    Accepted,
    PartyRef,
    Rejected,
    Result,
    WireError,
    number,
    objects,
    parse_datetime,
)
from connectors.ocpp.charging_profiles import NOMINAL_PHASE_VOLTAGE
from gridstream.records import ChargingLimit

RATE_UNITS: Final = frozenset({"W", "A"})
#: ChargingProfileResultType (the EVSE's answer, forwarded by the CPO).
RESULTS: Final = frozenset({"ACCEPTED", "REJECTED", "UNKNOWN"})
#: How far back a replacing PUT still carries the periods held before it: past the
#: compliance window (a day, or the allowed lateness) and the workers' limit memory.
HISTORY: Final = timedelta(days=2)
#: AC phases assumed when the connector's are unknown (``ChargingLimit``).
DEFAULT_PHASES: Final = 3
#: Longest duration or period start taken: a session's profile does not reach a year out.
MAX_SECONDS: Final = 366 * 86_400


@dataclass(frozen=True)
class ProfileState:
    """One session's profile as gridstream last published it."""

    #: The ActiveChargingProfile's ``start_date_time``: what a later PUT must not be before.
    start: datetime
    limits: tuple[ChargingLimit, ...]


@dataclass(frozen=True)
class _Period:
    start_s: int
    limit: float


@dataclass(frozen=True)
class ActiveProfile:
    """An ActiveChargingProfile, read and checked."""

    start: datetime
    rate_unit: str
    duration_s: int | None
    periods: tuple[_Period, ...]
    profile_id: str | None


def _whole(value: object, where: str) -> int:
    """A JSON integer of seconds, 0 to ``MAX_SECONDS`` (OCPI ``int``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise WireError(f"{where}: expected a whole number of seconds, got {value!r}")
    if not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"{where}: must be 0 to {MAX_SECONDS} s, got {value}")
    return int(value)


def _rate(value: object, where: str) -> float:
    """A charging rate: a finite number >= 0."""
    rate = number(value, where)
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"{where}: must be a number >= 0, got {value!r}")
    return rate


def read_active_profile(body: object, where: str = "active_charging_profile") -> ActiveProfile:
    """Read an ActiveChargingProfile: ``WireError`` (shape) or ``ValueError`` (range)."""
    if not isinstance(body, Mapping):
        raise WireError(f"{where}: expected a JSON object")
    start = parse_datetime(body.get("start_date_time"), f"{where}.start_date_time")
    profile = body.get("charging_profile")
    if not isinstance(profile, Mapping):
        raise WireError(f"{where}.charging_profile: required object missing")
    here = f"{where}.charging_profile"
    unit = profile.get("charging_rate_unit")
    if not isinstance(unit, str) or unit not in RATE_UNITS:
        raise WireError(f"{here}.charging_rate_unit: {unit!r} is not one of A, W")
    if profile.get("start_date_time") is not None:
        parse_datetime(profile["start_date_time"], f"{here}.start_date_time")
    duration = profile.get("duration")
    duration_s = None if duration is None else _whole(duration, f"{here}.duration")
    if profile.get("min_charging_rate") is not None:
        _rate(profile["min_charging_rate"], f"{here}.min_charging_rate")
    periods: list[_Period] = []
    for k, raw in enumerate(objects(profile.get("charging_profile_period"), f"{here}.period")):
        at = f"{here}.charging_profile_period[{k}]"
        if "start_period" not in raw or "limit" not in raw:
            raise WireError(f"{at}: start_period and limit are required")
        limit = _rate(raw["limit"], f"{at}.limit")
        periods.append(_Period(_whole(raw["start_period"], f"{at}.start_period"), limit))
    periods.sort(key=lambda p: p.start_s)
    starts = [p.start_s for p in periods]
    if len(set(starts)) != len(starts):
        raise ValueError(f"{here}.charging_profile_period: two periods start at the same second")
    profile_id = profile.get("id")
    if profile_id is not None and (
        isinstance(profile_id, bool) or not isinstance(profile_id, str | int) or profile_id == ""
    ):
        raise WireError(f"{here}.id: expected a string, got {profile_id!r}")
    text_id = None if profile_id is None else str(profile_id)
    return ActiveProfile(start, str(unit), duration_s, tuple(periods), text_id)


def _limits(
    profile: ActiveProfile,
    session: SessionState,
    phases: int | None,
    ctx: Context,
    action: str,
) -> list[ChargingLimit]:
    """One record per period of ``profile``, absolute, in W."""
    station = station_id(session.party, str(session.fields["evse_uid"]))
    end_of_profile = None
    if profile.duration_s is not None:
        end_of_profile = profile.start + timedelta(seconds=profile.duration_s)
    pid = profile.profile_id
    numeric_id = pid if pid and pid.isdigit() and len(pid) <= 18 else None  # fits int64
    out: list[ChargingLimit] = []
    for i, period in enumerate(profile.periods):
        start = profile.start + timedelta(seconds=period.start_s)
        end = (
            profile.start + timedelta(seconds=profile.periods[i + 1].start_s)
            if i + 1 < len(profile.periods)
            else None
        )
        if end_of_profile is not None:
            end = end_of_profile if end is None else min(end, end_of_profile)
        if end is not None and end <= start:
            continue  # past the profile's duration
        watts = period.limit
        if profile.rate_unit == "A":
            watts = period.limit * NOMINAL_PHASE_VOLTAGE * (phases or DEFAULT_PHASES)
        out.append(
            ChargingLimit(
                station_id=station,
                site_id=ctx.site_of(station),
                evse_id=0,
                transaction_id=session.session_id,
                profile_key=f"{station}|session|{session.session_id}",
                profile_id=None if numeric_id is None else int(numeric_id),
                charging_profile_id=profile.profile_id,
                purpose="TxProfile",
                limit_source=f"OCPI:{session.party}",
                interval_start=start,
                interval_end=end,
                rate_unit="A" if profile.rate_unit == "A" else "W",
                rate_limit=period.limit,
                number_phases=phases if profile.rate_unit == "A" else None,
                limit_w=watts,
                source=ctx.source,
                action=action,
                message_id=ctx.request_id,
                received_at=ctx.received_at,
            )
        )
    return out


def _same_limit(earlier: ChargingLimit, later: ChargingLimit) -> bool:
    """Whether ``later`` goes on where ``earlier`` ends, with the same limit."""
    return earlier.interval_end == later.interval_start and (
        earlier.rate_unit,
        earlier.rate_limit,
        earlier.limit_w,
        earlier.charging_profile_id,
    ) == (later.rate_unit, later.rate_limit, later.limit_w, later.charging_profile_id)


def _content(limits: Sequence[ChargingLimit]) -> list[tuple[Any, ...]]:
    """What a profile says, apart from when and how it was received."""
    return [
        (x.interval_start, x.interval_end, x.rate_limit, x.limit_w, x.charging_profile_id)
        for x in limits
    ]


def put_active_profile(
    held: ProfileState | None,
    session: SessionState,
    body: Mapping[str, Any],
    phases: int | None,
    ctx: Context,
    action: str = "ActiveChargingProfile",
) -> tuple[ProfileState | None, Result]:
    """An ActiveChargingProfile for ``session``: the new state and the result.

    ``phases`` are the AC phases of the session's connector (None: not known). A profile
    computed before the one held (by ``start_date_time``, a delayed request) changes nothing;
    the same profile sent again publishes nothing.
    """
    try:
        profile = read_active_profile(body)
    except WireError as exc:
        return held, Rejected("schema_violation", str(exc))
    except ValueError as exc:
        return held, Rejected("bad_value", str(exc))
    if held is not None and profile.start < held.start:
        return held, Accepted(note="computed before the profile held (by start_date_time): kept")
    fresh = _limits(profile, session, phases, ctx, action)
    floor = profile.start - HISTORY
    before = [
        old.model_copy(
            update={
                "interval_end": profile.start
                if old.interval_end is None
                else min(old.interval_end, profile.start),
                "message_id": ctx.request_id,
                "received_at": ctx.received_at,
            }
        )
        for old in (held.limits if held is not None else ())
        if old.interval_start < profile.start
        and (old.interval_end is None or old.interval_end > floor)
    ]
    if before and fresh and _same_limit(before[-1], fresh[0]):
        # The limit recomputed unchanged: one period on, so re-sends do not pile up periods.
        fresh[0] = fresh[0].model_copy(update={"interval_start": before.pop().interval_start})
    limits = (*before, *fresh)
    if held is not None and _content(limits) == _content(held.limits):
        return held, Accepted(note="the profile held, sent again")
    if not limits:
        note = "no periods: no limit in force" if held is None else None
        return ProfileState(profile.start, ()), Accepted(note=note)
    return ProfileState(profile.start, limits), Accepted(limits)


def find_session(
    held: Mapping[SessionKey, SessionState], parties: Sequence[PartyRef], session_id: str
) -> SessionState | Rejected:
    """The session ``session_id`` of one of ``parties`` (the URL names no party).

    None of them holds it: ``unknown_session`` (OCPI 3.0's UNKNOWN_SESSION); several do:
    ``bad_value`` (the partner must say which party with the routing headers).
    """
    found = {
        key: session
        for p in parties
        if (session := held.get(key := key_of(p, session_id))) is not None
    }
    if len(found) > 1:
        names = ", ".join(sorted(f"{k[0]}*{k[1]}" for k in found))
        return Rejected(
            "bad_value",
            f"session {session_id!r} is held for several parties ({names}): say which in "
            "OCPI-from-country-code / OCPI-from-party-id",
        )
    if not found:
        return Rejected(
            "unknown_session",
            f"UNKNOWN_SESSION: no session {session_id!r} of "
            f"{', '.join(str(p) for p in parties)} is held; PUT the session first",
        )
    return next(iter(found.values()))


def phases_of(
    session: SessionState, held: Mapping[tuple[str, str, str], LocationState]
) -> int | None:
    """The AC phases of ``session``'s connector, from its Location if held (else None)."""
    f = session.fields
    location = held.get(
        (session.party.country_code, session.party.party_id, str(f.get("location_id")))
    )
    if location is None:
        return None
    return connector_phases(location.fields, str(f.get("evse_uid")), str(f.get("connector_id")))


def post_result(
    held: ProfileState | None,
    session: SessionState | None,
    body: Mapping[str, Any],
    phases: int | None,
    ctx: Context,
) -> tuple[ProfileState | None, Result]:
    """A result POSTed to gridstream's response_url: the new state and the result.

    Only an ``ActiveChargingProfileResult`` ACCEPTED with its ``profile`` says what the
    session may draw (read as a PUT of it; its session must be held); any other result is
    taken with a note and publishes nothing.
    """
    read = read_result(body)
    if isinstance(read, Rejected):
        return held, read
    result, profile = read
    if profile is None:
        return held, Accepted(note=f"result {result}, no profile: nothing to record")
    if session is None:
        return held, Rejected(
            "unknown_session", "UNKNOWN_SESSION: the session of this profile is not held"
        )
    return put_active_profile(held, session, profile, phases, ctx, "ActiveChargingProfileResult")


def read_result(body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any] | None] | Rejected:
    """A result POSTed to a response_url: its ``result`` and, if ACCEPTED, its ``profile``."""
    result = body.get("result")
    if not isinstance(result, str) or result not in RESULTS:
        return Rejected(
            "schema_violation",
            f"charging profile result.result: {result!r} is not one of "
            + ", ".join(sorted(RESULTS)),
        )
    profile = body.get("profile")
    if profile is not None and not isinstance(profile, Mapping):
        return Rejected("schema_violation", "charging profile result.profile: expected an object")
    return result, profile if result == "ACCEPTED" else None


__all__ = [
    "HISTORY",
    "RATE_UNITS",
    "RESULTS",
    "ActiveProfile",
    "ProfileState",
    "find_session",
    "phases_of",
    "post_result",
    "put_active_profile",
    "read_active_profile",
    "read_result",
]
