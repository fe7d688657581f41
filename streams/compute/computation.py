"""The one-pass interface: every computation over an input topic shares each batch.

Faust's cost is per record (DESIGN.md, Scale), so the worker decodes a batch of an input
topic once and hands it to every computation registered for that topic, one after the
other, in one agent pass. A computation is plain Python (no Faust, Kafka or I/O): it takes
the batch, its own keyed state for the partition (a mutable mapping it may add keys to),
and a ``BatchContext`` (the clock's ``as_of``, the registry's answers), and returns the
records to publish, the keys it changed or removed (what the worker checkpoints) and its
counters. Its state values serialise with ``to_dict`` / ``from_dict`` and say how recent
they are (``newest_ms``: the worker drops keys silent beyond its retention).

``SiteLoad`` is the first: quarter-hour load, per-EVSE load and monthly peaks per site
(``streams.compute.processor``). The analytics (capacity-period violations, V2X balances,
flexibility, ...) are further computations over the same batch, run after it in order:
each sees in ``BatchContext.upstream`` the records the computations before it made of this
batch (a violation check reads the site loads just computed rather than recomputing them),
and in ``BatchContext.signals``, ``needs`` and ``site_info`` the side inputs every worker
follows whole (the grid signals in force, the EVs' charging needs, the registry's sites).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from gridstream.periods import QUARTER_HOUR_MS
from gridstream.records import MeterSample, Record, SiteAssignment
from gridstream.registry import SiteRegistry
from streams.compute.limit_book import LimitBook
from streams.compute.needs_book import NeedsBook
from streams.compute.processor import (
    RatedPower,
    SiteConfig,
    SiteState,
    process_batch,
    unknown_power,
)
from streams.compute.signal_book import SignalBook


def evse_key(station_id: str, evse_id: int | None) -> str:
    """The key of one EVSE's meter in a computation's state: ``station|evse``.

    ``station|`` when the EVSE is not known.
    """
    return f"{station_id}|{'' if evse_id is None else evse_id}"


def note_transaction(by_quarter_hour: dict[int, str], t_ms: int, transaction_id: str) -> None:
    """Note the session a meter's reading at ``t_ms`` carries, for its quarter-hour.

    A reading on a boundary closes the quarter-hour before it too: it belongs to that
    session as well, unless a reading inside it already said otherwise.
    """
    start = t_ms - t_ms % QUARTER_HOUR_MS
    by_quarter_hour[start] = transaction_id
    if t_ms == start:
        by_quarter_hour.setdefault(start - QUARTER_HOUR_MS, transaction_id)


def no_site_info(site_id: str) -> SiteAssignment | None:
    """A registry that knows no site."""
    return None


@dataclass(frozen=True)
class BatchContext:
    """What a computation may know besides its input and state.

    ``as_of``: the worker's clock (for ``received``-style stamps, never for event time).
    ``zone_for_site``, ``rated_power``, ``site_info``: the registry's answers (a site's
    entry carries its EAN, capacities, DSO, congestion area, connection group, BRP and
    tariff regime). ``signals``: the grid signals in force. ``needs``: the charging needs
    of the sessions under way. ``limits``: the charging limits stations were given.
    ``upstream``: the records the computations before this one made of the same batch, in
    order.
    """

    as_of: datetime
    zone_for_site: Callable[[str], ZoneInfo]
    rated_power: RatedPower = unknown_power
    site_info: Callable[[str], SiteAssignment | None] = no_site_info
    signals: SignalBook = field(default_factory=SignalBook)
    needs: NeedsBook = field(default_factory=NeedsBook)
    limits: LimitBook = field(default_factory=LimitBook)
    upstream: Sequence[Record] = ()

    @classmethod
    def of_registry(
        cls,
        as_of: datetime,
        registry: SiteRegistry,
        *,
        signals: SignalBook | None = None,
        needs: NeedsBook | None = None,
        limits: LimitBook | None = None,
    ) -> BatchContext:
        """The context of ``registry``'s answers (zones, rated powers, sites) at ``as_of``."""
        return cls(
            as_of,
            registry.timezone_of,
            registry.rated_power_w,
            registry.site_info,
            signals if signals is not None else SignalBook(),
            needs if needs is not None else NeedsBook(),
            limits if limits is not None else LimitBook(),
        )


@dataclass
class ComputationStep:
    """What one computation made of one batch.

    ``records``: to publish (outputs and dead letters). ``changed``: keys whose state the
    batch changed (to checkpoint). ``counts``: named counters for the run summary.
    """

    records: list[Record] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)


In = TypeVar("In", contravariant=True)
"""The record type of a computation's input topic."""


class Computation(Protocol[In]):
    """A pure computation over batches of one input topic, with keyed state."""

    #: Stable name: the prefix of its keys in the worker's checkpoints.
    name: str

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[In],
        context: BatchContext,
    ) -> ComputationStep:
        """Apply a batch (in arrival order) to ``states``, in place; return its step."""

    def to_dict(self, state: Any) -> dict[str, Any]:
        """A JSON-ready snapshot of one key's state."""

    def from_dict(self, data: dict[str, Any]) -> Any:
        """The state of a ``to_dict`` snapshot."""

    def newest_ms(self, state: Any) -> int | None:
        """Epoch ms of the newest input the state reflects (None: none)."""


class SiteLoad:
    """Quarter-hour site load, per-EVSE load and monthly peaks, keyed by site."""

    name = "site_load"

    def __init__(self, config: SiteConfig) -> None:
        """The site chain with ``config``."""
        self.config = config

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[MeterSample],
        context: BatchContext,
    ) -> ComputationStep:
        """``process_batch`` over the batch: loads, EVSE loads, peaks and dead letters."""
        step = process_batch(
            states, samples, self.config, context.zone_for_site, context.as_of, context.rated_power
        )
        records: list[Record] = [*step.loads, *step.evse_loads, *step.peaks]
        records += [r.to_dead_letter() for r in step.rejections]
        records += step.quirks.outliers
        return ComputationStep(
            records,
            {sample.site_id for sample in samples},
            {
                "loads": len(step.loads),
                "peaks": len(step.peaks),
                "rejected": len(step.rejections),
                "duplicates": step.duplicates,
                "outliers": len(step.quirks.outliers),
                "resets": step.quirks.resets,
                "estimated": step.quirks.estimated,
            },
        )

    def to_dict(self, state: SiteState) -> dict[str, Any]:
        """``SiteState.to_dict``."""
        return state.to_dict()

    def from_dict(self, data: dict[str, Any]) -> SiteState:
        """``SiteState.from_dict``."""
        return SiteState.from_dict(data)

    def newest_ms(self, state: SiteState) -> int | None:
        """The newest reading of any of the site's meters."""
        return max(
            (m.newest_ms for m in state.meters.values() if m.newest_ms is not None), default=None
        )
