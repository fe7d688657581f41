"""Flexibility per congestion area and settlement period: the sites' figures summed.

DOMAIN.md, Flexibility of a session: "Per congestion area and period: the sums of baseline,
reduce and increase over active sessions, and the number of sessions." The sites' figures
(``SiteFlexibility``, from ``streams.compute.flexibility``) come on ``flex.sites`` keyed by
congestion area, so one worker sees every site of an area; this computation, keyed by
area, holds the latest revision of each site per period and emits a ``FlexOffer`` on
``flex.offers`` whenever an area's sums for a period change. An older revision of a site
(re-sent, or overtaken) changes nothing. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridstream.periods import QUARTER_HOUR_MS as QH_MS
from gridstream.periods import from_epoch_ms, to_epoch_ms
from gridstream.records import FlexOffer, Record, SiteFlexibility
from streams.compute.computation import BatchContext, ComputationStep

COMPUTED_BY = "flex_offers/1"
#: Periods this long before the area's newest one are forgotten: offers are about what
#: comes next, and a day covers every revision a site still sends for one.
PERIOD_MEMORY_MS = 24 * 3600 * 1000


@dataclass
class AreaFlex:
    """One area's sites per period (ms) and the sums last emitted for each period.

    ``sites[period][site]`` is [revision, baseline, reduce, increase, sessions];
    ``emitted[period]`` is [revision, baseline, reduce, increase, sessions, sites].
    """

    sites: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    emitted: dict[int, list[float]] = field(default_factory=dict)
    newest_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "sites": {str(p): s for p, s in self.sites.items()},
            "emitted": {str(p): e for p, e in self.emitted.items()},
            "newest_ms": self.newest_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AreaFlex:
        """The state of a ``to_dict`` snapshot."""
        return cls(
            {int(p): s for p, s in data["sites"].items()},
            {int(p): e for p, e in data["emitted"].items()},
            data["newest_ms"],
        )


class FlexOffers:
    """Sums of the sites' flexibility per congestion area and period, keyed by area."""

    name = "flex_offers"

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[SiteFlexibility],
        context: BatchContext,
    ) -> ComputationStep:
        """Take each site's latest figures; emit the areas' periods whose sums changed."""
        touched: dict[str, set[int]] = {}
        stale = 0
        for site in samples:
            area = states.get(site.congestion_area)
            if area is None:
                area = states[site.congestion_area] = AreaFlex()
            period = to_epoch_ms(site.interval_start)
            held = area.sites.setdefault(period, {}).get(site.site_id)
            if held is not None and held[0] >= site.revision:
                stale += 1
                continue
            area.sites[period][site.site_id] = [
                site.revision,
                site.baseline_w,
                site.reduce_w,
                site.increase_w,
                site.sessions,
            ]
            area.newest_ms = max(area.newest_ms or period, period)
            touched.setdefault(site.congestion_area, set()).add(period)
        out: list[Record] = []
        for area_id, periods in touched.items():
            area = states[area_id]
            for period in sorted(periods):
                offer = _offer(area, area_id, period, context)
                if offer is not None:
                    out.append(offer)
            _forget(area)
        return ComputationStep(out, set(touched), {"flex_offers": len(out), "flex_stale": stale})

    def to_dict(self, state: AreaFlex) -> dict[str, Any]:
        """``AreaFlex.to_dict``."""
        return state.to_dict()

    def from_dict(self, data: dict[str, Any]) -> AreaFlex:
        """``AreaFlex.from_dict``."""
        return AreaFlex.from_dict(data)

    def newest_ms(self, state: AreaFlex) -> int | None:
        """The newest period any site offered for."""
        return state.newest_ms


def _offer(area: AreaFlex, area_id: str, period: int, context: BatchContext) -> FlexOffer | None:
    """The area's offer for ``period`` when its sums differ from the last one emitted."""
    sums = [0.0, 0.0, 0.0, 0.0, 0.0]
    for _, baseline, reduce, increase, sessions in area.sites.get(period, {}).values():
        sums[0] += baseline
        sums[1] += reduce
        sums[2] += increase
        sums[3] += sessions
        sums[4] += sessions > 0
    held = area.emitted.get(period)
    if held is not None and held[1:] == sums:
        return None
    revision = 0 if held is None else int(held[0]) + 1
    area.emitted[period] = [revision, *sums]
    start = from_epoch_ms(period)
    return FlexOffer(
        offer_id=f"{area_id}:{start.isoformat()}",
        congestion_area=area_id,
        interval_start=start,
        interval_end=from_epoch_ms(period + QH_MS),
        baseline_w=sums[0],
        reduce_w=sums[1],
        increase_w=sums[2],
        sessions=int(sums[3]),
        sites=int(sums[4]),
        revision=revision,
        computed_by=COMPUTED_BY,
        as_of=context.as_of,
    )


def _forget(area: AreaFlex) -> None:
    if area.newest_ms is None:
        return
    floor = area.newest_ms - PERIOD_MEMORY_MS
    for period in [p for p in area.sites if p < floor]:
        del area.sites[period]
        area.emitted.pop(period, None)
