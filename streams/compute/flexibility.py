"""Flexibility of charging sessions in the next period (DOMAIN.md, Flexibility of a session).

``session_flexibility`` is the formula: pure arithmetic, powers in W, energies in Wh, times
in hours. ``SiteFlexibilities`` is the computation the worker runs over meter.samples: per
site, the sessions with charging needs (``BatchContext.needs``) summed for the settlement
period after the site's newest reading, on ``flex.sites`` (``streams.compute.flex_offers``
sums them per congestion area). ``reduce`` and ``increase`` are named as DOMAIN.md asks
("up"/"down" mean opposite things to a TSO and a DSO).
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from gridstream.periods import QUARTER_HOUR_MS as QH_MS
from gridstream.periods import from_epoch_ms, to_epoch_ms
from gridstream.records import EVChargingNeeds, MeterSample, Record, SiteFlexibility
from gridstream.registers import EXPORT_POWER, IMPORT_POWER, sample_power, sample_registers
from streams.compute.computation import BatchContext, ComputationStep, evse_key

PERIOD_H = 0.25


class SessionFlex(NamedTuple):
    """The session's power bounds for the next period and what it can give either way."""

    baseline_w: float
    p_lo_w: float
    p_hi_w: float
    reduce_w: float
    increase_w: float


def session_flexibility(
    *,
    hours_to_departure: float,
    energy_needed_wh: float,
    energy_room_wh: float,
    p_min_w: float,
    p_max_w: float,
    p_dis_w: float,
    baseline_w: float,
    can_pause: bool = True,
    period_h: float = PERIOD_H,
) -> SessionFlex:
    """Plo, Phi, reduce and increase of a session per DOMAIN.md.

    ``energy_needed_wh`` is E (to the target), ``energy_room_wh`` is Emax (what the battery can
    still take), ``hours_to_departure`` is T = d - t. A session past its departure (T <= 0) or
    already at target (E <= 0) offers only what V2X allows: it may go down to -Pdis, no higher
    than its baseline.
    """
    t, d, e = hours_to_departure, period_h, energy_needed_wh
    if t <= 0 or e <= 0:
        p_lo = -p_dis_w
        p_hi = min(baseline_w, p_max_w)
    else:
        if t <= d:
            p_lo = e / t
        else:
            p_lo = max(-p_dis_w, (e - p_max_w * (t - d)) / d)
        if not can_pause:
            p_lo = max(p_lo, p_min_w)
        p_hi = min(p_max_w, max(0.0, energy_room_wh) / d)
    return SessionFlex(
        baseline_w=baseline_w,
        p_lo_w=p_lo,
        p_hi_w=p_hi,
        reduce_w=max(0.0, baseline_w - p_lo),
        increase_w=max(0.0, p_hi - baseline_w),
    )


# --- The computation: each site's sessions summed per settlement period -------------------

COMPUTED_BY = "flexibility/1"
#: A power reading older than this behind the EVSE's newest reading no longer says P0.
POWER_FRESH_MS = 5 * 60 * 1000
#: How long the figures emitted per period are remembered (to emit only what changed).
EMITTED_MEMORY_MS = 24 * 3600 * 1000


@dataclass
class EvseMeter:
    """What one EVSE's newest readings say: registers, power, transaction, session mark.

    ``mark_ms`` is the time of the charging needs the marked registers belong to: the
    registers when those needs were first seen, from which the energy delivered since the
    EV told its needs is counted.
    """

    newest_ms: int
    transaction_id: str | None = None
    import_wh: float | None = None
    export_wh: float | None = None
    register_ms: int | None = None
    #: The registers before the newest ones (import, export, ms), for the power slope.
    previous: tuple[float | None, float | None, int] | None = None
    power_w: float | None = None
    power_ms: int | None = None
    mark_ms: int | None = None
    mark_import_wh: float | None = None
    mark_export_wh: float | None = None

    def net_power_w(self) -> float | None:
        """P0: the newest fresh power reading (import - export), else the registers' slope."""
        if self.power_w is not None and self.power_ms is not None:
            if self.newest_ms - self.power_ms <= POWER_FRESH_MS:
                return self.power_w
        if self.previous is None or self.register_ms is None:
            return None
        imp, exp, ms = self.previous
        hours = (self.register_ms - ms) / 3_600_000
        if hours <= 0 or hours * 3_600_000 > POWER_FRESH_MS * 3:
            return None
        wh = _delta(self.import_wh, imp) - _delta(self.export_wh, exp)
        return wh / hours

    def delivered_wh(self) -> float:
        """Net energy into the EV since the mark (import - export), Wh."""
        return _delta(self.import_wh, self.mark_import_wh) - _delta(
            self.export_wh, self.mark_export_wh
        )


def _delta(now: float | None, then: float | None) -> float:
    if now is None or then is None:
        return 0.0
    return max(0.0, now - then)  # a reset in between gives nothing, never a negative


@dataclass
class SiteFlexState:
    """One site's EVSE meters and the figures last emitted per period (ms)."""

    evses: dict[str, EvseMeter] = field(default_factory=dict)
    #: period start ms -> [revision, baseline, reduce, increase, sessions, unknown departure]
    emitted: dict[int, list[float]] = field(default_factory=dict)
    newest_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "evses": {k: asdict(m) for k, m in self.evses.items()},
            "emitted": {str(k): v for k, v in self.emitted.items()},
            "newest_ms": self.newest_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteFlexState:
        """The state of a ``to_dict`` snapshot."""
        evses = {}
        for key, m in data["evses"].items():
            previous = m.pop("previous")
            evses[key] = EvseMeter(**m, previous=tuple(previous) if previous else None)
        return cls(
            evses,
            {int(k): v for k, v in data["emitted"].items()},
            data["newest_ms"],
        )


class SiteFlexibilities:
    """Per site and next settlement period, the flexibility of its sessions, keyed by site.

    Reads the EVSE meters of the batch (registers, power, transaction) and the charging
    needs in force (``BatchContext.needs``); emits a ``SiteFlexibility`` for the period that
    follows the site's newest reading whenever its figures change (zero once its last
    session ended), for the sites the registry places in a congestion area.
    """

    name = "flexibility"

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[MeterSample],
        context: BatchContext,
    ) -> ComputationStep:
        """Update the batch's EVSE meters, then sum each touched site's sessions."""
        touched: set[str] = set()
        for sample in samples:
            if sample.evse_id is None or sample.evse_id == 0:
                continue  # a main meter carries no session
            state = states.get(sample.site_id)
            if state is None:
                state = states[sample.site_id] = SiteFlexState()
            _note(state, sample)
            touched.add(sample.site_id)
        out: list[Record] = []
        unassigned = 0
        for site_id in touched:
            info = context.site_info(site_id)
            if info is None or not info.congestion_area:
                unassigned += 1
                continue
            record = self._site(states[site_id], site_id, info.congestion_area, context)
            if record is not None:
                out.append(record)
        return ComputationStep(
            out, touched, {"flex_sites": len(out), "flex_unassigned_sites": unassigned}
        )

    def _site(
        self, state: SiteFlexState, site_id: str, area: str, context: BatchContext
    ) -> SiteFlexibility | None:
        assert state.newest_ms is not None  # the batch touched the site
        t = from_epoch_ms(state.newest_ms)
        figures = [0.0, 0.0, 0.0, 0.0, 0.0]  # baseline, reduce, increase, sessions, unknown
        for needs in context.needs.needs_at(site_id, t):
            meter = state.evses.get(evse_key(needs.station_id, needs.evse_id))
            if meter is None:
                continue  # no readings of that EVSE: nothing measured to offer from
            if context.needs.ended(needs, meter.transaction_id, t):
                meter.mark_ms = None
                continue
            needs_ms = to_epoch_ms(needs.ts)
            if meter.mark_ms != needs_ms:  # new needs: count delivery from here
                meter.mark_ms = needs_ms
                meter.mark_import_wh, meter.mark_export_wh = meter.import_wh, meter.export_wh
            flex = needs_flexibility(
                needs, meter, t, context.rated_power(needs.station_id, needs.evse_id)
            )
            figures[0] += flex.baseline_w
            figures[1] += flex.reduce_w
            figures[2] += flex.increase_w
            figures[3] += 1
            figures[4] += needs.departure_time is None
        period = state.newest_ms - state.newest_ms % QH_MS + QH_MS
        for old in [p for p in state.emitted if p < state.newest_ms - EMITTED_MEMORY_MS]:
            del state.emitted[old]
        rounded = [round(v) for v in figures]
        held = state.emitted.get(period)
        if held is None and rounded[3] == 0:
            return None  # no session, and none offered for this period before
        if held is not None and held[1:] == rounded:
            return None
        revision = 0 if held is None else int(held[0]) + 1
        state.emitted[period] = [revision, *rounded]
        return SiteFlexibility(
            site_id=site_id,
            congestion_area=area,
            interval_start=from_epoch_ms(period),
            baseline_w=rounded[0],
            reduce_w=rounded[1],
            increase_w=rounded[2],
            sessions=int(rounded[3]),
            unknown_departure=int(rounded[4]),
            reading_ts=t,
            revision=revision,
            computed_by=COMPUTED_BY,
            as_of=context.as_of,
        )

    def to_dict(self, state: SiteFlexState) -> dict[str, Any]:
        """``SiteFlexState.to_dict``."""
        return state.to_dict()

    def from_dict(self, data: dict[str, Any]) -> SiteFlexState:
        """``SiteFlexState.from_dict``."""
        return SiteFlexState.from_dict(data)

    def newest_ms(self, state: SiteFlexState) -> int | None:
        """The newest EVSE reading seen."""
        return state.newest_ms


def _note(state: SiteFlexState, sample: MeterSample) -> None:
    """Fold one EVSE sample into its meter (an older one than the newest changes nothing)."""
    t = to_epoch_ms(sample.ts)
    key = evse_key(sample.station_id, sample.evse_id)
    meter = state.evses.get(key)
    if meter is None:
        meter = state.evses[key] = EvseMeter(newest_ms=t)
    elif t < meter.newest_ms:
        return  # late: the flexibility is about now
    meter.newest_ms = t
    state.newest_ms = max(state.newest_ms or t, t)
    if sample.transaction_id is not None:
        meter.transaction_id = sample.transaction_id
    imp, exp = sample_registers(sample.readings)
    if imp is not None or exp is not None:
        if meter.register_ms is not None and meter.register_ms < t:
            meter.previous = (meter.import_wh, meter.export_wh, meter.register_ms)
        meter.import_wh = imp if imp is not None else meter.import_wh
        meter.export_wh = exp if exp is not None else meter.export_wh
        meter.register_ms = t
    p_in = sample_power(sample.readings, IMPORT_POWER)
    p_out = sample_power(sample.readings, EXPORT_POWER)
    if p_in is not None or p_out is not None:
        meter.power_w = (p_in or 0.0) - (p_out or 0.0)
        meter.power_ms = t


def needs_flexibility(
    needs: EVChargingNeeds, meter: EvseMeter, at: datetime, rated_power_w: float | None
) -> SessionFlex:
    """One session's flexibility at ``at`` from what its EV said and what its meter reads.

    E is the energy the EV asked for (its target request, else the AC/DC energy amount)
    less what was delivered since; Emax its maximum request (else E) less the same; Pmax
    the least of the EV's maximum charge power and the EVSE's rated power; Pdis the EV's
    maximum discharge power when it asked for bidirectional transfer (``*_BPT*``), else 0;
    P0 the EVSE's power now. A session that did not say when it leaves, or how much energy
    it needs, offers no reduction (it might need all of it now: GRID.md, section 6).
    """
    p0 = meter.net_power_w() or 0.0
    delivered = meter.delivered_wh()
    asked = needs.target_energy_wh if needs.target_energy_wh is not None else needs.energy_amount_wh
    most = needs.max_energy_wh if needs.max_energy_wh is not None else asked
    ev_max = (
        needs.max_charge_power_w if needs.max_charge_power_w is not None else needs.ev_max_power_w
    )
    bounds = [p for p in (ev_max, rated_power_w) if p is not None]
    p_max = min(bounds) if bounds else max(p0, 0.0)
    v2x = "BPT" in needs.requested_energy_transfer
    p_dis = (needs.max_discharge_power_w or 0.0) if v2x else 0.0
    if asked is None:  # how much it needs is unknown: it might be full, or need all of it
        return SessionFlex(p0, p0, p0, 0.0, 0.0)
    flex = session_flexibility(
        hours_to_departure=(
            (needs.departure_time - at).total_seconds() / 3600
            if needs.departure_time is not None
            else math.inf
        ),
        energy_needed_wh=asked - delivered,
        energy_room_wh=(most if most is not None else asked) - delivered,
        p_min_w=needs.min_charge_power_w or 0.0,
        p_max_w=p_max,
        p_dis_w=p_dis,
        baseline_w=p0,
    )
    if needs.departure_time is None:
        return flex._replace(p_lo_w=p0, reduce_w=0.0)
    return flex
