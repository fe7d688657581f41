"""Capacity-period violations: a site's quarter-hour load above the limit in force.

DOMAIN.md, Capacity-period violations. A limit L holds for a scope (the site, by its id or
EAN; its connection group; its congestion area) over a period: a DSO's
``import_capacity_limit`` / ``export_capacity_limit`` grid signal, or always the site's
contracted capacity from the registry. Per quarter-hour of the site load (the site load's
``QuarterHourLoad``, read from the same batch's upstream records) the limit is the lowest
one in force at any instant of the quarter-hour, and

    exceedance = max(0, P - L x (1 + tolerance)).

A violation starts at a quarter-hour with exceedance and goes on over the following
quarter-hours while the load is still above the limit (P > L: inside the tolerance, it is
not yet back under); it counts once it has lasted the minimum duration. It carries the
largest exceedance, the energy above the limit (the integral of max(0, P - L), here the sum
of (P - L) x 0.25 h over its quarter-hours) and its duration. A gap in the site load ends it.

Late data: a revised quarter-hour re-judges the violations it can touch (from the start of
the run of quarter-hours above the limit that leads to it), each re-emitted with revision +
1 when it changed, ``withdrawn`` when it no longer holds. Signals are read when the site's
load changes: a limit published after the quarter-hours it covers applies from the next
revision of the site's load on (the kept window is re-judged only from the quarter-hours
that changed, so that a batch costs what it changed).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from gridstream.periods import QUARTER_HOUR_MS as QH_MS
from gridstream.periods import from_epoch_ms, to_epoch_ms
from gridstream.records import (
    CapacityViolation,
    GridSignalKind,
    MeterSample,
    QuarterHourLoad,
    Record,
    SiteAssignment,
    ViolationState,
)
from gridstream.settings import Settings
from streams.compute.computation import BatchContext, ComputationStep
from streams.compute.signal_book import Scope, SignalBook

COMPUTED_BY = "violations/1"
_QH_HOURS = 0.25

Direction = Literal["import", "export"]
_KIND: dict[Direction, GridSignalKind] = {
    "import": "import_capacity_limit",
    "export": "export_capacity_limit",
}


@dataclass(frozen=True, slots=True)
class ViolationConfig:
    """Tolerance (a share: 0.05 is 5 %), minimum duration, and how long figures are kept."""

    tolerance: float = 0.0
    min_duration: timedelta = timedelta(minutes=15)
    #: How far behind the site's newest quarter-hour its figures are kept for re-judging.
    window: timedelta = timedelta(days=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> ViolationConfig:
        """Build from the one ``Settings`` object (the window covers the allowed lateness)."""
        return cls(
            tolerance=settings.violation_tolerance,
            min_duration=timedelta(seconds=settings.violation_min_duration_s),
            window=max(timedelta(days=1), timedelta(seconds=settings.allowed_lateness_s)),
        )


@dataclass
class SiteViolations:
    """One site's recent quarter-hour powers and the violations last emitted for it."""

    #: Quarter-hour start (epoch ms) -> (average import W, average export W).
    quarters: dict[int, tuple[float, float]] = field(default_factory=dict)
    #: Violation id -> the record last emitted.
    emitted: dict[str, CapacityViolation] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "quarters": [[start, imp, exp] for start, (imp, exp) in self.quarters.items()],
            "emitted": [v.model_dump(mode="json") for v in self.emitted.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteViolations:
        """The state of a ``to_dict`` snapshot."""
        emitted = [CapacityViolation.model_validate(v) for v in data["emitted"]]
        return cls(
            {int(start): (imp, exp) for start, imp, exp in data["quarters"]},
            {v.violation_id: v for v in emitted},
        )


@dataclass(frozen=True, slots=True)
class Limit:
    """A limit in force (W) and where it came from."""

    value_w: float
    source: str


def site_scopes(site_id: str, info: SiteAssignment | None) -> list[Scope]:
    """The scopes whose limits hold for a site: itself (id and EAN), its group, its area."""
    scopes: list[Scope] = [("site", site_id)]
    if info is not None:
        if info.ean and info.ean != site_id:
            scopes.append(("site", info.ean))
        if info.connection_group:
            scopes.append(("connection_group", info.connection_group))
        if info.congestion_area:
            scopes.append(("congestion_area", info.congestion_area))
    return scopes


def limit_in_force(
    signals: SignalBook,
    scopes: Sequence[Scope],
    info: SiteAssignment | None,
    direction: Direction,
    start_ms: int,
) -> Limit | None:
    """The lowest limit in force at any instant of the quarter-hour starting at ``start_ms``."""
    candidates: list[Limit] = []
    contracted = None
    if info is not None:
        contracted = (
            info.contracted_capacity_w
            if direction == "import"
            else info.contracted_export_capacity_w
        )
    if contracted is not None:
        candidates.append(Limit(contracted, "contract"))
    kind = _KIND[direction]
    for scope in scopes:
        for signal in signals.overlapping(kind, scope, start_ms, start_ms + QH_MS):
            source = f"{signal.source}/{kind}/{signal.scope_type}:{signal.scope_id}"
            candidates.append(Limit(signal.value, source))
    return min(candidates, key=lambda limit: limit.value_w, default=None)


@dataclass
class _Run:
    start_ms: int
    end_ms: int
    limit: Limit
    max_exceedance_w: float
    above_wh: float
    quarters: int


def judge(
    powers: Sequence[tuple[int, float, Limit | None]], tolerance: float
) -> list[tuple[_Run, bool]]:
    """Runs above the limit in quarter-hours ``(start_ms, P W, limit)``, sorted by start.

    Each run starts at a quarter-hour with exceedance and goes on while the next quarter-hour
    follows without a gap and is above its limit. Returns each run and whether it reaches the
    last quarter-hour given (the load is not known to be back under the limit: open).
    """
    runs: list[tuple[_Run, bool]] = []
    run: _Run | None = None
    last_ms = powers[-1][0] if powers else None
    for start_ms, power, limit in powers:
        above = limit is not None and power > limit.value_w
        if run is not None and (start_ms != run.end_ms or not above):
            runs.append((run, False))
            run = None
        if limit is None or not above:
            continue
        exceedance = max(0.0, power - limit.value_w * (1 + tolerance))
        if run is None:
            if exceedance <= 0:
                continue  # inside the tolerance: does not start a violation
            run = _Run(start_ms, start_ms, limit, 0.0, 0.0, 0)
        run.end_ms = start_ms + QH_MS
        run.quarters += 1
        run.max_exceedance_w = max(run.max_exceedance_w, exceedance)
        run.above_wh += (power - limit.value_w) * _QH_HOURS
        if limit.value_w < run.limit.value_w:
            run.limit = limit
    if run is not None:
        runs.append((run, run.end_ms - QH_MS == last_ms))
    return runs


class CapacityViolations:
    """Capacity-period violations per site, from the site load's quarter-hours."""

    name = "capacity_violations"

    def __init__(self, config: ViolationConfig) -> None:
        """Judge with ``config``'s tolerance, minimum duration and window."""
        self.config = config
        self._window_ms = config.window // timedelta(milliseconds=1)
        self._min_quarters = -(-config.min_duration // timedelta(minutes=15))  # ceil

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[MeterSample],
        context: BatchContext,
    ) -> ComputationStep:
        """Take the batch's quarter-hour loads; emit the violations they open, change or undo."""
        loads: dict[str, dict[int, QuarterHourLoad]] = {}
        for record in context.upstream:
            if isinstance(record, QuarterHourLoad):  # later revisions come later: they win
                loads.setdefault(record.site_id, {})[to_epoch_ms(record.interval_start)] = record
        out: list[Record] = []
        for site_id, by_start in loads.items():
            state = states.get(site_id)
            if state is None:
                state = states[site_id] = SiteViolations()
            for start_ms, load in by_start.items():
                state.quarters[start_ms] = (load.avg_import_w, load.avg_export_w)
            out += self._rejudge(site_id, state, min(by_start), context)
            self._forget(state)
        return ComputationStep(out, set(loads), {"violations": len(out)})

    def _rejudge(
        self, site_id: str, state: SiteViolations, first_ms: int, context: BatchContext
    ) -> list[CapacityViolation]:
        info = context.site_info(site_id)
        scopes = site_scopes(site_id, info)
        out: list[CapacityViolation] = []
        for index, direction in enumerate(("import", "export")):
            d: Direction = direction  # type: ignore[assignment]

            def limit(start_ms: int, d: Direction = d) -> Limit | None:
                return limit_in_force(context.signals, scopes, info, d, start_ms)

            # Re-judge from the start of the run above the limit that leads to the change.
            from_ms = first_ms
            while (prev := state.quarters.get(from_ms - QH_MS)) is not None:
                held = limit(from_ms - QH_MS)
                if held is None or prev[index] <= held.value_w:
                    break
                from_ms -= QH_MS
            for v in state.emitted.values():
                if v.direction == d and v.state != "withdrawn" and to_epoch_ms(v.end) >= from_ms:
                    from_ms = min(from_ms, to_epoch_ms(v.start))
            powers = [
                (start, state.quarters[start][index], limit(start))
                for start in sorted(s for s in state.quarters if s >= from_ms)
            ]
            now: dict[str, CapacityViolation] = {}
            for run, is_open in judge(powers, self.config.tolerance):
                if run.quarters >= self._min_quarters:
                    record = self._record(site_id, d, run, "open" if is_open else "closed", context)
                    now[record.violation_id] = record
            for violation_id, old in list(state.emitted.items()):
                if old.direction != d or to_epoch_ms(old.start) < from_ms:
                    continue
                if violation_id not in now and old.state != "withdrawn":
                    now[violation_id] = old.model_copy(update={"state": "withdrawn"})
            for violation_id, judged in now.items():
                held_v = state.emitted.get(violation_id)
                if held_v is not None and _same(held_v, judged):
                    continue
                revision = 0 if held_v is None else held_v.revision + 1
                record = judged.model_copy(update={"revision": revision, "as_of": context.as_of})
                state.emitted[violation_id] = record
                out.append(record)
        return out

    def _record(
        self,
        site_id: str,
        direction: Direction,
        run: _Run,
        state: ViolationState,
        context: BatchContext,
    ) -> CapacityViolation:
        start = from_epoch_ms(run.start_ms)
        return CapacityViolation(
            violation_id=f"{site_id}:{direction}:{start.isoformat()}",
            site_id=site_id,
            direction=direction,
            state=state,
            start=start,
            end=from_epoch_ms(run.end_ms),
            duration_s=(run.end_ms - run.start_ms) / 1000,
            quarter_hours=run.quarters,
            limit_w=run.limit.value_w,
            limit_source=run.limit.source,
            tolerance=self.config.tolerance,
            max_exceedance_w=round(run.max_exceedance_w, 6),
            energy_above_limit_wh=round(run.above_wh, 6),
            revision=0,
            computed_by=COMPUTED_BY,
            as_of=context.as_of,
        )

    def _forget(self, state: SiteViolations) -> None:
        """Keep the window behind the newest quarter-hour, and any open violation whole."""
        newest = max(state.quarters)
        floor = newest - self._window_ms
        for v in state.emitted.values():
            if v.state == "open":
                floor = min(floor, to_epoch_ms(v.start))
        for start in [s for s in state.quarters if s < floor]:
            del state.quarters[start]
        for violation_id in [k for k, v in state.emitted.items() if to_epoch_ms(v.end) < floor]:
            del state.emitted[violation_id]

    def to_dict(self, state: SiteViolations) -> dict[str, Any]:
        """``SiteViolations.to_dict``."""
        return state.to_dict()

    def from_dict(self, data: dict[str, Any]) -> SiteViolations:
        """``SiteViolations.from_dict``."""
        return SiteViolations.from_dict(data)

    def newest_ms(self, state: SiteViolations) -> int | None:
        """The newest quarter-hour's start."""
        return max(state.quarters, default=None)


def _same(a: CapacityViolation, b: CapacityViolation) -> bool:
    """Whether two emissions say the same (revision and as_of aside)."""
    skip = {"revision", "as_of"}
    return a.model_dump(exclude=skip) == b.model_dump(exclude=skip)


def violations_of(
    loads: Sequence[QuarterHourLoad],
    config: ViolationConfig,
    site_info: Callable[[str], SiteAssignment | None],
    signals: SignalBook | None = None,
    as_of: datetime | None = None,
) -> list[CapacityViolation]:
    """The violations a history of quarter-hour loads holds, judged in one batch.

    What the stream ends at once every revision is in: withdrawn ones left out.
    """
    computation = CapacityViolations(config)
    states: dict[str, Any] = {}
    ordered: list[QuarterHourLoad] = sorted(loads, key=lambda load: load.interval_start)
    when = as_of if as_of is not None else datetime(1970, 1, 1, tzinfo=UTC)
    context = BatchContext(
        when,
        lambda site: ZoneInfo("UTC"),
        site_info=site_info,
        signals=signals if signals is not None else SignalBook(),
        upstream=ordered,
    )
    computation.process(states, [], context)
    return sorted(
        (v for state in states.values() for v in state.emitted.values() if v.state != "withdrawn"),
        key=lambda v: v.violation_id,
    )
