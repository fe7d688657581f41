"""Charging-profile compliance: what a station or site was given against what it drew.

Per quarter-hour, from the loads the site load just computed (``BatchContext.upstream``):

- ``evse``: the EVSE's own meter against the limit in force for it: of its charge profiles
  (``TxProfile`` over ``TxDefaultProfile``; the station's default profiles on EVSE 0 apply
  to each EVSE; a ``TxProfile`` for another transaction does not) the one with the highest
  stack level, and the lowest of that and the external limits on the EVSE;
- ``station``: the sum of the station's EVSEs against its station-wide limits (maximum
  profiles: the highest stack level; external limits on EVSE 0: the lowest of all);
- ``site``: the site's net load against a ``dispatch_setpoint`` grid signal for the site
  (an OpenADR setpoint), the latest received where several overlap.

A meter whose EVSE is unknown is keyed by its transaction (``EvseQuarterHourLoad`` with
``evse_id`` None: every OCPI meter, whose station is one EVSE): it is judged, scope
``evse`` with ``evse_id`` None, against the profiles given for that transaction alone (OCPI
ActiveChargingProfiles are ``TxProfile`` periods of their session), by the same rule.

Profile ids: where the EVSE's meter samples name a ``charging_profile_id`` (OCPI 3.0: the
profile the station says it followed), the figure carries those ids
(``reported_profile_ids``) and ``profile_id_mismatch``: True when one of them is not the id
(``charging_profile_id``, else OCPP's ``profile_id``) of a limit the plan came from, False
when all are, None when either side names no id. That is the only use of a bare id: the
plan, and so the deviation, always comes from profile content gridstream holds; an id that
names a profile whose content it never received cannot say what the station was allowed.

``planned_w`` is the time-weighted average over the part of the quarter-hour that had a
plan (``covered_s``). A limit is kept when metered - planned <= the allowance, a setpoint
when |metered - planned| <= it; the allowance is max(tolerance x |planned|, tolerance_w).
Only a fully covered quarter-hour is judged. Figures are re-emitted with revision + 1 when a
revised load or a late limit changes them (limits are read when the loads change, as for
violations). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gridstream.periods import QUARTER_HOUR_MS as QH_MS
from gridstream.periods import from_epoch_ms, to_epoch_ms
from gridstream.records import (
    ChargingLimit,
    ComplianceScope,
    EvseQuarterHourLoad,
    GridSignal,
    MeterSample,
    ProfileCompliance,
    QuarterHourLoad,
    Record,
)
from gridstream.settings import Settings
from streams.compute.computation import (
    BatchContext,
    ComputationStep,
    evse_key,
    note_transaction,
)
from streams.compute.signal_book import Scope

COMPUTED_BY = "compliance/1"
QH_S = 900.0
_QH_HOURS = 0.25
_TX = ("TxProfile", "TxDefaultProfile")
_STATION_MAX = ("ChargingStationMaxProfile", "ChargePointMaxProfile")


@dataclass(frozen=True, slots=True)
class ComplianceConfig:
    """The allowance: a share of the plan, at least an absolute margin; the memory kept."""

    tolerance: float = 0.05
    tolerance_w: float = 100.0
    window: timedelta = timedelta(days=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> ComplianceConfig:
        """Build from the one ``Settings`` object (the window covers the allowed lateness)."""
        return cls(
            tolerance=settings.compliance_tolerance,
            tolerance_w=settings.compliance_tolerance_w,
            window=max(timedelta(days=1), timedelta(seconds=settings.allowed_lateness_s)),
        )


@dataclass
class SiteCompliance:
    """One site's recent EVSE loads, their transactions, and the figures last emitted."""

    #: "station|evse" -> quarter-hour start ms -> average import W
    loads: dict[str, dict[int, float]] = field(default_factory=dict)
    #: "station|evse" -> quarter-hour start ms -> the transaction its readings carried
    transactions: dict[str, dict[int, str]] = field(default_factory=dict)
    #: "scope|station|evse|ms" -> [revision, planned, metered, covered(, reported ids)]
    emitted: dict[str, list[Any]] = field(default_factory=dict)
    newest_ms: int | None = None
    #: meter (``_meter_key``) -> quarter-hour start ms -> profile ids its samples named
    reported: dict[str, dict[int, list[str]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "loads": {m: {str(t): w for t, w in q.items()} for m, q in self.loads.items()},
            "transactions": {
                m: {str(t): x for t, x in q.items()} for m, q in self.transactions.items()
            },
            "emitted": self.emitted,
            "newest_ms": self.newest_ms,
            "reported": {m: {str(t): x for t, x in q.items()} for m, q in self.reported.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteCompliance:
        """The state of a ``to_dict`` snapshot."""
        return cls(
            {m: {int(t): w for t, w in q.items()} for m, q in data["loads"].items()},
            {m: {int(t): x for t, x in q.items()} for m, q in data["transactions"].items()},
            data["emitted"],
            data["newest_ms"],
            # Snapshots from before profile ids were noted have none.
            {m: {int(t): x for t, x in q.items()} for m, q in data.get("reported", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """What was planned over a quarter-hour: average W over ``covered_s``, and from where."""

    planned_w: float
    covered_s: float
    #: The limits or signals that were in force over some of it.
    used: tuple[Any, ...]


def plan_over(
    start: datetime,
    items: Sequence[Any],
    window: Callable[[Any], tuple[datetime, datetime | None]],
    in_force: InForce,
) -> Plan | None:
    """The time-weighted plan over ``[start, +15 min)``; None when nothing covered it.

    The quarter-hour is cut at every item's edges; ``in_force`` says the value of each piece
    from the items that hold all of it (and which of them it came from).
    """
    end = start + timedelta(minutes=15)
    windows = [(item, *window(item)) for item in items]
    edges = {start, end}
    for _, a, b in windows:
        edges.update(t for t in (a, b) if t is not None and start < t < end)
    cuts = sorted(edges)
    weighted = covered = 0.0
    used: list[Any] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        held = [
            i for i, i_start, i_end in windows if i_start <= a and (i_end is None or i_end >= b)
        ]
        value = in_force(held) if held else None
        if value is None:
            continue
        seconds = (b - a).total_seconds()
        weighted += value[0] * seconds
        covered += seconds
        used += [u for u in value[1] if u not in used]
    if covered == 0:
        return None
    return Plan(weighted / covered, covered, tuple(used))


InForce = Callable[[list[Any]], tuple[float, list[Any]] | None]
"""The value in force over a piece of a quarter-hour, from the items held over all of it."""


def evse_limit(transaction_id: str | None) -> InForce:
    """The limit in force for an EVSE among its held limits (module docstring)."""

    def in_force(held: list[ChargingLimit]) -> tuple[float, list[Any]] | None:
        profiles = [
            h for h in held
            if h.purpose in _TX and h.limit_w is not None
            and (h.purpose != "TxProfile" or h.transaction_id in (None, transaction_id))
        ]  # fmt: skip
        return _lowest(held, [h for h in profiles if h.purpose == "TxProfile"] or profiles)

    return in_force


def station_limit(held: list[ChargingLimit]) -> tuple[float, list[Any]] | None:
    """The station-wide limit in force among its held limits (module docstring)."""
    return _lowest(held, [h for h in held if h.purpose in _STATION_MAX])


def _lowest(
    held: list[ChargingLimit], stacked: list[ChargingLimit]
) -> tuple[float, list[Any]] | None:
    """The lowest of the top stack level of ``stacked`` and the external limits held."""
    stacked = [h for h in stacked if h.limit_w is not None]
    chosen = [h for h in held if h.purpose is None and h.limit_w is not None]
    if stacked:
        top = max(h.stack_level or 0 for h in stacked)
        chosen += [h for h in stacked if (h.stack_level or 0) == top]
    if not chosen:
        return None
    lowest = min(chosen, key=_limit)
    return _limit(lowest), [lowest]


def latest_setpoint(held: list[GridSignal]) -> tuple[float, list[Any]] | None:
    """The latest received of the setpoints held."""
    latest = max(held, key=lambda s: (s.received_at, s.revision))
    return latest.value, [latest]


def _meter_key(station_id: str, evse_id: int | None, transaction_id: str | None) -> str:
    """A meter's key: ``station|evse``, or ``station|tx:transaction`` when its EVSE is unknown."""
    if evse_id is None:
        return f"{station_id}|tx:{transaction_id}"
    return evse_key(station_id, evse_id)


def note_profile_id(by_quarter_hour: dict[int, list[str]], t_ms: int, profile_id: str) -> None:
    """Note a profile id a meter's sample at ``t_ms`` named, for its quarter-hour.

    As for transactions (``note_transaction``): a sample on a boundary closes the
    quarter-hour before it too, unless a sample inside it already named one.
    """
    start = t_ms - t_ms % QH_MS
    ids = by_quarter_hour.setdefault(start, [])
    if profile_id not in ids:
        ids.append(profile_id)
    if t_ms == start and not by_quarter_hour.get(start - QH_MS):
        by_quarter_hour[start - QH_MS] = [profile_id]


def _held_profile_id(limit: ChargingLimit) -> str | None:
    if limit.charging_profile_id is not None:
        return limit.charging_profile_id
    return None if limit.profile_id is None else str(limit.profile_id)


def _limit(limit: ChargingLimit) -> float:
    assert limit.limit_w is not None  # filtered before
    return limit.limit_w


def _limit_window(limit: ChargingLimit) -> tuple[datetime, datetime | None]:
    return limit.interval_start, limit.interval_end


def _signal_window(signal: GridSignal) -> tuple[datetime, datetime | None]:
    return signal.interval_start, signal.interval_end


class Compliance:
    """Planned against metered per quarter-hour for EVSEs, stations and sites; by site."""

    name = "compliance"

    def __init__(self, config: ComplianceConfig) -> None:
        """Judge with ``config``'s allowance."""
        self.config = config
        self._window_ms = config.window // timedelta(milliseconds=1)

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[MeterSample],
        context: BatchContext,
    ) -> ComputationStep:
        """Note the batch's transactions; judge the quarter-hours its loads changed."""
        changed: set[str] = set()
        for sample in samples:
            if sample.charging_profile_id is not None and (
                sample.evse_id is not None or sample.transaction_id is not None
            ):  # a meter known by neither EVSE nor session is never judged
                state = self._state(states, sample.site_id)
                meter = _meter_key(sample.station_id, sample.evse_id, sample.transaction_id)
                reported = state.reported.setdefault(meter, {})
                note_profile_id(reported, to_epoch_ms(sample.ts), sample.charging_profile_id)
                changed.add(sample.site_id)
            if sample.transaction_id is None or not sample.evse_id:
                continue
            state = self._state(states, sample.site_id)
            seen = state.transactions.setdefault(evse_key(sample.station_id, sample.evse_id), {})
            note_transaction(seen, to_epoch_ms(sample.ts), sample.transaction_id)
        out: list[Record] = []
        stations: set[tuple[str, str, int]] = set()
        for record in context.upstream:
            if isinstance(record, EvseQuarterHourLoad) and record.evse_id:
                state = self._state(states, record.site_id)
                t = to_epoch_ms(record.interval_start)
                state.loads.setdefault(evse_key(record.station_id, record.evse_id), {})[t] = (
                    record.avg_import_w
                )
                state.newest_ms = max(state.newest_ms or t, t)
                out += self._evse(state, record, context)
                stations.add((record.site_id, record.station_id, t))
                changed.add(record.site_id)
            elif isinstance(record, EvseQuarterHourLoad) and record.evse_id is None:
                if record.transaction_id is not None:  # no session: no profile is its own
                    state = self._state(states, record.site_id)
                    t = to_epoch_ms(record.interval_start)
                    state.newest_ms = max(state.newest_ms or t, t)
                    out += self._session_meter(state, record, context)
                    changed.add(record.site_id)
            elif isinstance(record, QuarterHourLoad):
                out += self._site(self._state(states, record.site_id), record, context)
                changed.add(record.site_id)
        for site_id, station_id, t in sorted(stations):
            out += self._station(states[site_id], site_id, station_id, t, context)
        for site_id in changed:
            self._forget(states[site_id])
        return ComputationStep(out, changed, {"compliance_checks": len(out)})

    @staticmethod
    def _state(states: MutableMapping[str, Any], site_id: str) -> SiteCompliance:
        state = states.get(site_id)
        if state is None:
            state = states[site_id] = SiteCompliance()
        return state

    def _evse(
        self, state: SiteCompliance, load: EvseQuarterHourLoad, context: BatchContext
    ) -> list[Record]:
        assert load.evse_id is not None
        start = load.interval_start
        transaction = state.transactions.get(evse_key(load.station_id, load.evse_id), {}).get(
            to_epoch_ms(start)
        )
        held = [
            limit
            for limit in context.limits.limits_over(
                load.station_id, start, start + timedelta(minutes=15)
            )
            if limit.evse_id == load.evse_id
            or (limit.evse_id == 0 and limit.purpose == "TxDefaultProfile")
        ]
        plan = plan_over(start, held, _limit_window, evse_limit(transaction))
        return self._emit(
            state, "evse", load.site_id, load.station_id, load.evse_id, transaction, start,
            plan, load.avg_import_w, setpoint=False, context=context,
            reported=self._reported(state, load),
        )  # fmt: skip

    def _session_meter(
        self, state: SiteCompliance, load: EvseQuarterHourLoad, context: BatchContext
    ) -> list[Record]:
        """A meter whose EVSE is unknown: against the profiles given for its transaction."""
        start = load.interval_start
        transaction = load.transaction_id
        held = [
            limit
            for limit in context.limits.limits_over(
                load.station_id, start, start + timedelta(minutes=15)
            )
            if limit.transaction_id == transaction
        ]
        plan = plan_over(start, held, _limit_window, evse_limit(transaction))
        return self._emit(
            state, "evse", load.site_id, load.station_id, None, transaction, start,
            plan, load.avg_import_w, setpoint=False, context=context,
            reported=self._reported(state, load),
        )  # fmt: skip

    @staticmethod
    def _reported(state: SiteCompliance, load: EvseQuarterHourLoad) -> tuple[str, ...]:
        meter = _meter_key(load.station_id, load.evse_id, load.transaction_id)
        return tuple(state.reported.get(meter, {}).get(to_epoch_ms(load.interval_start), ()))

    def _station(
        self, state: SiteCompliance, site_id: str, station_id: str, t: int, context: BatchContext
    ) -> list[Record]:
        start = from_epoch_ms(t)
        held = [
            limit
            for limit in context.limits.limits_over(
                station_id, start, start + timedelta(minutes=15)
            )
            if limit.evse_id == 0 and limit.purpose != "TxDefaultProfile"
        ]
        if not held:
            return []
        prefix = f"{station_id}|"
        metered = sum(
            q[t] for meter, q in state.loads.items() if meter.startswith(prefix) and t in q
        )
        plan = plan_over(start, held, _limit_window, station_limit)
        return self._emit(
            state, "station", site_id, station_id, 0, None, start, plan, metered,
            setpoint=False, context=context,
        )  # fmt: skip

    def _site(
        self, state: SiteCompliance, load: QuarterHourLoad, context: BatchContext
    ) -> list[Record]:
        start = load.interval_start
        t = to_epoch_ms(start)
        info = context.site_info(load.site_id)
        scopes: list[Scope] = [("site", load.site_id)]
        if info is not None and info.ean:
            scopes.append(("site", info.ean))
        held = [
            s
            for scope in scopes
            for s in context.signals.overlapping("dispatch_setpoint", scope, t, t + QH_MS)
        ]
        if not held:
            return []
        plan = plan_over(start, held, _signal_window, latest_setpoint)
        metered = (load.import_wh - load.export_wh) / _QH_HOURS
        return self._emit(
            state, "site", load.site_id, None, None, None, start, plan, metered,
            setpoint=True, context=context,
        )  # fmt: skip

    def _emit(
        self,
        state: SiteCompliance,
        scope: ComplianceScope,
        site_id: str,
        station_id: str | None,
        evse_id: int | None,
        transaction_id: str | None,
        start: datetime,
        plan: Plan | None,
        metered_w: float,
        *,
        setpoint: bool,
        context: BatchContext,
        reported: tuple[str, ...] = (),
    ) -> list[Record]:
        meter = f"tx:{transaction_id}" if scope == "evse" and evse_id is None else evse_id
        key = f"{scope}|{station_id}|{meter}|{to_epoch_ms(start)}"
        held = state.emitted.get(key)
        if plan is None:
            return []  # nothing planned (a late limit that moved away leaves the old figure)
        # A time-weighted average of one 7,000 W limit is 6999.999999999999 W: to the mW.
        planned_w = round(plan.planned_w, 3)
        figures: list[Any] = [planned_w, round(metered_w, 3), plan.covered_s]
        if reported:
            figures.append("|".join(reported))
        if held is not None and held[1:] == figures:
            return []
        revision = 0 if held is None else int(held[0]) + 1
        state.emitted[key] = [revision, *figures]
        deviation = metered_w - planned_w
        allowance = max(self.config.tolerance * abs(planned_w), self.config.tolerance_w)
        judged = abs(deviation) if setpoint else deviation
        keys = tuple(_key(item) for item in plan.used)
        held_ids = {
            i for i in (_held_profile_id(u) for u in plan.used if isinstance(u, ChargingLimit)) if i
        }
        mismatch = None if not reported or not held_ids else not set(reported) <= held_ids
        return [
            ProfileCompliance(
                scope=scope,
                site_id=site_id,
                station_id=station_id,
                evse_id=evse_id,
                transaction_id=transaction_id,
                interval_start=start,
                covered_s=plan.covered_s,
                planned_w=planned_w,
                metered_w=metered_w,
                deviation_w=deviation,
                energy_above_plan_wh=max(0.0, deviation) * _QH_HOURS,
                compliant=(judged <= allowance) if plan.covered_s >= QH_S else None,
                tolerance=self.config.tolerance,
                limit_source=",".join(sorted({_source(item) for item in plan.used})),
                profile_keys=keys,
                revision=revision,
                computed_by=COMPUTED_BY,
                as_of=context.as_of,
                reported_profile_ids=reported,
                profile_id_mismatch=mismatch,
            )
        ]

    def _forget(self, state: SiteCompliance) -> None:
        if state.newest_ms is None:
            return
        floor = state.newest_ms - self._window_ms
        for loads in state.loads.values():
            for t in [t for t in loads if t < floor]:
                del loads[t]
        for transactions in state.transactions.values():
            for t in [t for t in transactions if t < floor]:
                del transactions[t]
        for meter in list(state.reported):
            ids = state.reported[meter]
            for t in [t for t in ids if t < floor]:
                del ids[t]
            if not ids:
                del state.reported[meter]
        for key in [k for k in state.emitted if int(k.rsplit("|", 1)[1]) < floor]:
            del state.emitted[key]

    def to_dict(self, state: SiteCompliance) -> dict[str, Any]:
        """``SiteCompliance.to_dict``."""
        return state.to_dict()

    def from_dict(self, data: dict[str, Any]) -> SiteCompliance:
        """``SiteCompliance.from_dict``."""
        return SiteCompliance.from_dict(data)

    def newest_ms(self, state: SiteCompliance) -> int | None:
        """The newest quarter-hour judged."""
        return state.newest_ms


def _key(item: ChargingLimit | GridSignal) -> str:
    if isinstance(item, ChargingLimit):
        return item.profile_key
    return f"{item.source}/{item.document_id or ''}/{item.scope_type}:{item.scope_id}"


def _source(item: ChargingLimit | GridSignal) -> str:
    if isinstance(item, ChargingLimit):
        return item.limit_source if item.purpose is None else f"{item.limit_source}:{item.purpose}"
    return f"{item.source}/{item.kind}"
