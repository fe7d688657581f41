"""OCPP charging profiles and reported limits -> ``ChargingLimit`` records (pure).

What a station was told it may draw, for compliance (planned against metered):

- a profile the CSMS sent (SetChargingProfile: 1.6 ``csChargingProfiles``, 2.x
  ``chargingProfile``), tapped by the proxy once the station accepted it;
- the profiles a 2.x station reports (ReportChargingProfiles);
- limits set outside the CSMS that a 2.x station reports (NotifyChargingLimit: an energy
  management system, the system operator, ...).

Each schedule period becomes one record with absolute times (``schedule_periods``):
Absolute schedules start at ``startSchedule`` (else ``validFrom``, else when the message came);
Relative ones at the transaction's start, which the connector does not know when the profile
arrives: the message's time stands for it (a profile is sent when the transaction starts or
later, so this is at worst late by the delay). Recurring ones are laid out from the
occurrence in force when the message came, for two days (Daily) or two weeks (Weekly); a
station that is still on them after that is sent them again or reports them again. Periods
are clipped to ``validFrom`` / ``validTo``. Ampere limits are converted to W at 230 V per
phase (``numberPhases``, 3 when absent), the nominal LV voltage (GRID.md, section 5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from connectors.ocpp.context import CallContext
from connectors.ocpp.timestamps import parse_timestamp
from gridstream.records import ChargingLimit

#: Phase-to-neutral voltage for an ampere limit (EN 50160 nominal LV).
NOMINAL_PHASE_VOLTAGE: Final = 230.0
_RECURRENCE: Final = {"Daily": timedelta(days=1), "Weekly": timedelta(weeks=1)}
_OCCURRENCES: Final = {"Daily": 2, "Weekly": 2}


def set_charging_profile(payload: Mapping[str, Any], ctx: CallContext) -> list[ChargingLimit]:
    """The limits of a SetChargingProfile the station accepted (1.6 or 2.x payload)."""
    if "csChargingProfiles" in payload:  # 1.6
        profile = payload["csChargingProfiles"]
        return profile_limits(
            profile, payload.get("connectorId", 0), "CSMS", ctx, "SetChargingProfile"
        )
    return profile_limits(
        payload["chargingProfile"], payload["evseId"], "CSMS", ctx, "SetChargingProfile"
    )


def report_charging_profiles(payload: Mapping[str, Any], ctx: CallContext) -> list[ChargingLimit]:
    """The limits of the profiles a 2.x station reports (ReportChargingProfiles)."""
    out: list[ChargingLimit] = []
    for profile in payload["chargingProfile"]:
        out += profile_limits(
            profile, payload["evseId"], payload["chargingLimitSource"], ctx,
            "ReportChargingProfiles",
        )  # fmt: skip
    return out


def notify_charging_limit(payload: Mapping[str, Any], ctx: CallContext) -> list[ChargingLimit]:
    """The external limits a 2.x station reports (NotifyChargingLimit)."""
    limit = payload["chargingLimit"]
    source = limit["chargingLimitSource"]
    evse = payload.get("evseId", 0)
    out: list[ChargingLimit] = []
    for schedule in payload.get("chargingSchedule", ()):
        out += schedule_periods(
            schedule,
            ctx.now,
            ctx,
            evse_id=evse,
            action="NotifyChargingLimit",
            limit_source=source,
            profile_key=f"{ctx.station_id}|{evse}|external|{source}",
            grid_critical=limit.get("isGridCritical"),
        )
    return out


def profile_limits(
    profile: Mapping[str, Any], evse_id: int, limit_source: str, ctx: CallContext, action: str
) -> list[ChargingLimit]:
    """Every schedule period of one charging profile (1.6 or 2.x shape), made absolute."""
    profile_id = profile.get("id", profile.get("chargingProfileId"))
    purpose: str = profile["chargingProfilePurpose"]
    stack: int = profile["stackLevel"]
    kind: str = profile["chargingProfileKind"]
    valid_from = _time(profile.get("validFrom"), "chargingProfile.validFrom")
    valid_to = _time(profile.get("validTo"), "chargingProfile.validTo")
    schedules = profile["chargingSchedule"]
    if isinstance(schedules, Mapping):  # 1.6: one schedule; 2.x: a list of them
        schedules = [schedules]
    transaction = profile.get("transactionId")
    out: list[ChargingLimit] = []
    for schedule in schedules:
        start = _time(schedule.get("startSchedule"), "chargingSchedule.startSchedule")
        anchors = _anchors(kind, profile.get("recurrencyKind"), start, valid_from, ctx.now)
        for anchor, until in anchors:
            out += schedule_periods(
                schedule,
                anchor,
                ctx,
                evse_id=evse_id,
                action=action,
                limit_source=limit_source,
                profile_key=f"{ctx.station_id}|{evse_id}|{purpose}|{stack}",
                profile_id=None if profile_id is None else int(profile_id),
                purpose=purpose,
                stack_level=stack,
                transaction_id=None if transaction is None else str(transaction),
                not_before=valid_from,
                not_after=_earliest(valid_to, until),
            )
    return out


def _anchors(
    kind: str,
    recurrency: str | None,
    start: datetime | None,
    valid_from: datetime | None,
    now: datetime,
) -> list[tuple[datetime, datetime | None]]:
    """Where each occurrence of a schedule starts, and where it must end at the latest."""
    if kind == "Recurring" and recurrency in _RECURRENCE:
        every = _RECURRENCE[recurrency]
        first = start or valid_from or now
        occurrence = first + every * max(0, (now - first) // every)
        return [
            (occurrence + every * k, occurrence + every * (k + 1))
            for k in range(_OCCURRENCES[recurrency])
        ]
    if kind == "Relative":
        return [(now, None)]  # the transaction's start, which the message cannot be before
    return [(start or valid_from or now, None)]  # Absolute (and 2.1 Dynamic)


def schedule_periods(
    schedule: Mapping[str, Any],
    anchor: datetime,
    ctx: CallContext,
    *,
    evse_id: int,
    action: str,
    limit_source: str,
    profile_key: str,
    profile_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
    transaction_id: str | None = None,
    grid_critical: bool | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> list[ChargingLimit]:
    """One record per period of ``schedule``, starting at ``anchor`` (clipped, in W)."""
    unit = schedule["chargingRateUnit"].upper()
    periods: Sequence[Mapping[str, Any]] = sorted(
        schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"]
    )
    duration = schedule.get("duration")
    end_of_schedule = None if duration is None else anchor + timedelta(seconds=duration)
    not_after = _earliest(not_after, end_of_schedule)
    out: list[ChargingLimit] = []
    for i, period in enumerate(periods):
        start = anchor + timedelta(seconds=period["startPeriod"])
        end = (
            anchor + timedelta(seconds=periods[i + 1]["startPeriod"])
            if i + 1 < len(periods)
            else None
        )
        end = _earliest(end, not_after)
        if not_before is not None and start < not_before:
            start = not_before
        if end is not None and end <= start:
            continue  # clipped away
        phases = period.get("numberPhases")
        limit, limit_phases = _total(period, "limit", phases)
        setpoint, setpoint_phases = _total(period, "setpoint", phases)
        if limit is None and setpoint is None:
            continue  # a period that only sets a mode or a curve: nothing to compare with
        out.append(
            ChargingLimit(
                station_id=ctx.station_id,
                site_id=ctx.site_id,
                evse_id=evse_id,
                transaction_id=transaction_id,
                profile_key=profile_key,
                profile_id=profile_id,
                purpose=purpose,
                stack_level=stack_level,
                limit_source=limit_source,
                grid_critical=grid_critical,
                interval_start=start,
                interval_end=end,
                rate_unit="A" if unit == "A" else "W",
                rate_limit=limit,
                number_phases=phases,
                limit_w=None if limit is None else _watts(limit, unit, limit_phases),
                setpoint_w=None if setpoint is None else _watts(setpoint, unit, setpoint_phases),
                source=ctx.source,
                action=action,
                message_id=ctx.message_id,
                received_at=ctx.now,
            )
        )
    return out


def _total(
    period: Mapping[str, Any], member: str, phases: int | None
) -> tuple[float | None, int | None]:
    """A period's value summed over the phases it names, and the phases it is still per.

    2.1 may send L2 and L3 apart (``limit_L2``): then ``limit`` is L1's, and the sum is per
    one phase no more.
    """
    base = period.get(member)
    if base is None:
        return None, phases
    parts = [period.get(f"{member}_L2"), period.get(f"{member}_L3")]
    if all(p is None for p in parts):
        return float(base), phases
    return float(base) + sum(float(p) for p in parts if p is not None), 1


def _watts(value: float, unit: str, phases: int | None) -> float:
    """W of a value in ``unit``: amperes per phase times 230 V times the phases (3 if unsaid)."""
    if unit != "A":
        return value
    return value * NOMINAL_PHASE_VOLTAGE * (3 if phases is None else phases)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _time(value: object, field: str) -> datetime | None:
    return None if value is None else parse_timestamp(value, field)
