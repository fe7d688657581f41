"""Grid-code checks: frequency and voltage outside their bands, and the V2X response.

DOMAIN.md, Grid-code checks. From the stations' own readings, in arrival order:

- Frequency (``Frequency``, Hz) is the grid's, so a site's stations make one series: an
  excursion starts at the first reading outside the band and ends at the first one back
  inside. For each bidirectional (V2X) EVSE of the site with a session when it starts,
  its power before (its last reading before the start) is compared with its power during
  (its readings until the end): below the band it should charge less or discharge more
  (the lowest during, under the before, by the margin), above it discharge less or
  charge more (the highest during, over the before).
- Voltage (``Voltage``, phase to neutral: ``L1-N`` or a total) per meter (station, EVSE)
  and phase, since two meters of one site read their own supply: the same rule of first
  reading out, first reading back (the view sums them per site and phase). Phase-to-phase
  readings (``L1-L2``, about 400 V) are not compared with a 230 V band (PROTOCOLS.md).

A reading older than the newest of its series is late and changes no excursion (the
band says what happened then, not what happens now). Each event is emitted when it opens,
with revision + 1 as later batches extend or close it. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gridstream.periods import from_epoch_ms, to_epoch_ms
from gridstream.records import GridCodeEvent, MeterSample, Reading, Record
from gridstream.registers import (
    EXPORT_POWER,
    EXPORT_REGISTER,
    IMPORT_POWER,
    sample_power,
)
from gridstream.settings import Settings
from streams.compute.computation import BatchContext, ComputationStep, evse_key

COMPUTED_BY = "grid_code/1"
FREQUENCY = "Frequency"
VOLTAGE = "Voltage"
_PHASE_TO_NEUTRAL = frozenset({None, "L1", "L2", "L3", "L1-N", "L2-N", "L3-N"})
#: A power reading older than this before an excursion does not say what the EVSE did then.
BEFORE_WITHIN_MS = 5 * 60 * 1000
#: Events this long closed are forgotten (their figures are final).
CLOSED_MEMORY_MS = 24 * 3600 * 1000

Direction = Literal["under", "over"]


@dataclass(frozen=True, slots=True)
class GridCodeConfig:
    """The bands, and the least power change that counts as a response."""

    frequency_band_hz: tuple[float, float] = (49.8, 50.2)
    voltage_band_v: tuple[float, float] = (207.0, 253.0)
    #: A response moves the power by at least max(share x |before|, margin_w).
    response_share: float = 0.05
    response_margin_w: float = 100.0

    @classmethod
    def from_settings(cls, settings: Settings) -> GridCodeConfig:
        """Build from the one ``Settings`` object."""
        return cls(
            frequency_band_hz=settings.frequency_band_hz, voltage_band_v=settings.voltage_band_v
        )


@dataclass
class Excursion:
    """One excursion of a series, open or closed."""

    event_id: str
    direction: str
    start_ms: int
    last_out_ms: int
    extreme: float
    readings: int = 1
    end_ms: int | None = None
    revision: int = -1
    #: "station|evse" -> power (W, import - export) before the start, for V2X sessions.
    before: dict[str, float] = field(default_factory=dict)
    #: "station|evse" -> [lowest, highest] power read during the excursion.
    during: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class EvsePower:
    """An EVSE's newest power reading, its session, and whether it ever exported."""

    power_w: float | None = None
    power_ms: int | None = None
    transaction_id: str | None = None
    bidirectional: bool = False


@dataclass
class SiteGridCode:
    """One site's series: newest reading per series, excursions, EVSE powers."""

    #: series ("Frequency" or "station|evse|phase") -> newest reading ms
    newest: dict[str, int] = field(default_factory=dict)
    #: series -> its open excursion, or its latest closed one
    excursions: dict[str, Excursion] = field(default_factory=dict)
    evses: dict[str, EvsePower] = field(default_factory=dict)
    newest_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "newest": self.newest,
            "excursions": {k: asdict(e) for k, e in self.excursions.items()},
            "evses": {k: asdict(e) for k, e in self.evses.items()},
            "newest_ms": self.newest_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteGridCode:
        """The state of a ``to_dict`` snapshot."""
        return cls(
            dict(data["newest"]),
            {k: Excursion(**e) for k, e in data["excursions"].items()},
            {k: EvsePower(**e) for k, e in data["evses"].items()},
            data["newest_ms"],
        )


class GridCodeChecks:
    """Frequency and voltage excursions per site, with the V2X sessions' response."""

    name = "grid_code"

    def __init__(self, config: GridCodeConfig) -> None:
        """Check against ``config``'s bands."""
        self.config = config

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[MeterSample],
        context: BatchContext,
    ) -> ComputationStep:
        """Apply the batch's frequency, voltage and power readings; emit changed events."""
        touched: dict[str, set[str]] = {}
        #: Excursions that ended and were followed by another of their series in this
        #: batch: emitted before the one that replaced them.
        finished: list[tuple[str, str, Excursion]] = []
        late = 0
        for sample in samples:
            state = states.get(sample.site_id)
            if state is None:
                state = states[sample.site_id] = SiteGridCode()
            t = to_epoch_ms(sample.ts)
            state.newest_ms = max(state.newest_ms or t, t)
            for series, value in _series(sample):
                if t < state.newest.get(series, t):
                    late += 1
                    continue
                state.newest[series] = t
                before = state.excursions.get(series)
                if self._apply(state, sample, series, value, t):
                    site_touched = touched.setdefault(sample.site_id, set())
                    if before is not None and state.excursions[series] is not before:
                        if series in site_touched:  # it ended in this batch, unseen
                            finished.append((sample.site_id, series, before))
                    site_touched.add(series)
            _note_power(state, sample, t)  # after: the sample's own power is not "before"
        out: list[Record] = [self._event(e, site, series, context) for site, series, e in finished]
        for site_id, series_set in touched.items():
            state = states[site_id]
            for series in sorted(series_set):
                out.append(self._event(state.excursions[series], site_id, series, context))
            _forget(state)
        return ComputationStep(
            out, set(states) & {s.site_id for s in samples}, {"grid_code_events": len(out),
                                                              "grid_code_late": late}
        )  # fmt: skip

    def _band(self, series: str) -> tuple[float, float]:
        return self.config.frequency_band_hz if series == FREQUENCY else self.config.voltage_band_v

    def _apply(
        self, state: SiteGridCode, sample: MeterSample, series: str, value: float, t: int
    ) -> bool:
        """Fold one reading into its series; whether an excursion opened, grew or closed."""
        low, high = self._band(series)
        held = state.excursions.get(series)
        is_open = held is not None and held.end_ms is None
        direction: Direction | None = "under" if value < low else "over" if value > high else None
        if is_open:
            assert held is not None
            if direction is None:
                held.end_ms = t
                return True
            held.last_out_ms = t
            held.readings += 1
            held.extreme = (
                min(held.extreme, value) if held.direction == "under" else max(held.extreme, value)
            )
            return True
        if direction is None:
            return False
        station = None if series == FREQUENCY else sample.station_id
        excursion = Excursion(
            event_id=f"{sample.site_id}:{series}:{direction}:{from_epoch_ms(t).isoformat()}",
            direction=direction,
            start_ms=t,
            last_out_ms=t,
            extreme=value,
        )
        if station is None:  # frequency: what the V2X sessions were doing just before
            for key, evse in state.evses.items():
                if (
                    evse.bidirectional and evse.transaction_id is not None
                    and evse.power_w is not None and evse.power_ms is not None
                    and t - evse.power_ms <= BEFORE_WITHIN_MS
                ):  # fmt: skip
                    excursion.before[key] = evse.power_w
        state.excursions[series] = excursion
        return True

    def _event(
        self, excursion: Excursion, site_id: str, series: str, context: BatchContext
    ) -> GridCodeEvent:
        excursion.revision += 1
        low, high = self._band(series)
        station = evse = phase = None
        if series != FREQUENCY:
            station, evse_text, phase = series.split("|")
            evse = int(evse_text) if evse_text else None
        end = excursion.end_ms if excursion.end_ms is not None else excursion.last_out_ms
        responses: list[str] = []
        responded = 0
        if series == FREQUENCY:
            for key, before in sorted(excursion.before.items()):
                seen = excursion.during.get(key)
                moved = self._responded(excursion.direction, before, seen)
                responded += moved
                during = "-" if seen is None else f"{seen[0]:.0f}..{seen[1]:.0f}"
                responses.append(f"{key}|{before:.0f}|{during}|{'yes' if moved else 'no'}")
        return GridCodeEvent(
            event_id=excursion.event_id,
            kind="frequency" if series == FREQUENCY else "voltage",
            site_id=site_id,
            station_id=station,
            evse_id=evse,
            phase=phase or None,
            direction=excursion.direction,
            state="open" if excursion.end_ms is None else "closed",
            start=from_epoch_ms(excursion.start_ms),
            end=None if excursion.end_ms is None else from_epoch_ms(excursion.end_ms),
            duration_s=(end - excursion.start_ms) / 1000,
            extreme=excursion.extreme,
            band_low=low,
            band_high=high,
            readings=excursion.readings,
            sessions_affected=len(excursion.before) if series == FREQUENCY else None,
            sessions_responded=responded if series == FREQUENCY else None,
            responses=tuple(responses),
            revision=excursion.revision,
            computed_by=COMPUTED_BY,
            as_of=context.as_of,
        )

    def _responded(self, direction: str, before: float, seen: list[float] | None) -> bool:
        if seen is None:
            return False
        margin = max(self.config.response_share * abs(before), self.config.response_margin_w)
        if direction == "under":
            return seen[0] <= before - margin
        return seen[1] >= before + margin

    def to_dict(self, state: SiteGridCode) -> dict[str, Any]:
        """``SiteGridCode.to_dict``."""
        return state.to_dict()

    def from_dict(self, data: dict[str, Any]) -> SiteGridCode:
        """``SiteGridCode.from_dict``."""
        return SiteGridCode.from_dict(data)

    def newest_ms(self, state: SiteGridCode) -> int | None:
        """The newest reading seen."""
        return state.newest_ms


def _series(sample: MeterSample) -> list[tuple[str, float]]:
    """The frequency and phase-to-neutral voltage readings of a sample, by series."""
    out: list[tuple[str, float]] = []
    for r in sample.readings:
        if r.value is None:
            continue
        if r.measurand == FREQUENCY and r.phase is None:
            out.append((FREQUENCY, r.value))
        elif r.measurand == VOLTAGE and r.phase in _PHASE_TO_NEUTRAL and _outlet(r):
            evse = "" if sample.evse_id is None else str(sample.evse_id)
            out.append((f"{sample.station_id}|{evse}|{r.phase or ''}", r.value))
    return out


def _outlet(reading: Reading) -> bool:
    return reading.location in (None, "Outlet", "Inlet")


def _note_power(state: SiteGridCode, sample: MeterSample, t: int) -> None:
    """The EVSE's power and session from a sample, and its readings during excursions."""
    if not sample.evse_id:
        return
    key = evse_key(sample.station_id, sample.evse_id)
    evse = state.evses.get(key)
    if evse is None:
        evse = state.evses[key] = EvsePower()
    if sample.transaction_id is not None:
        evse.transaction_id = sample.transaction_id
    p_in = sample_power(sample.readings, IMPORT_POWER)
    p_out = sample_power(sample.readings, EXPORT_POWER)
    if p_out is not None or any(r.measurand == EXPORT_REGISTER for r in sample.readings):
        evse.bidirectional = True
    if p_in is None and p_out is None:
        return
    power = (p_in or 0.0) - (p_out or 0.0)
    if evse.power_ms is None or t >= evse.power_ms:
        evse.power_w, evse.power_ms = power, t
    excursion = state.excursions.get(FREQUENCY)
    if (
        excursion is not None and key in excursion.before and excursion.start_ms < t
        and (excursion.end_ms is None or t <= excursion.end_ms)
    ):  # fmt: skip
        seen = excursion.during.setdefault(key, [power, power])
        seen[0], seen[1] = min(seen[0], power), max(seen[1], power)


def _forget(state: SiteGridCode) -> None:
    if state.newest_ms is None:
        return
    floor = state.newest_ms - CLOSED_MEMORY_MS
    for series in [
        s for s, e in state.excursions.items() if e.end_ms is not None and e.end_ms < floor
    ]:
        del state.excursions[series]
