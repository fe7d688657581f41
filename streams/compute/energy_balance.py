"""V2X energy balances: import, export and net per session and site, valued at the prices.

DOMAIN.md, V2X energy balances; GRID.md section 6 (quantities). Per settlement period
(the quarter-hour), read from the records the site load made of the same batch:

- a session's balance is its meter's own gross import and export (``EvseQuarterHourLoad``:
  separate import and export registers, never netted), attributed to the transaction its
  station reported on that EVSE in the period (the samples' ``transaction_id``, the
  reading that closes the period included); a meter keyed by its transaction (EVSE
  unknown) is that transaction's. Energy with no transaction (an idle EVSE) and a
  station's main meter (EVSE 0) are no session's;
- a site's balance is its grid connection's, the site load (``QuarterHourLoad``).

Each is valued with the prices in force at the period's start (``EnergyBalance``): import
at the site's ``energy_price``, else its bidding zone's ``day_ahead_price``; export at the
site's ``feed_in_tariff``, else the day-ahead price; the imbalance price of the zone
beside. A BRP's balance sums its sites' rows, which may be on any partition: the warehouse
view does that (``v2x_balance_brps``), as it sums a session's periods (``v2x_balance_sessions``,
with the round-trip efficiency where the EV reported its state of charge). A revised
load re-emits its balance with revision + 1; the same figures again emit nothing.

The EV's own word on what it may discharge (OCPP 2.1 charging needs) is on another topic
and not compared here yet.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from gridstream.periods import QUARTER_HOUR_MS as QH_MS
from gridstream.periods import from_epoch_ms, to_epoch_ms
from gridstream.records import (
    EnergyBalance,
    EvseQuarterHourLoad,
    GridSignal,
    GridSignalKind,
    MeterSample,
    QuarterHourLoad,
    Record,
    SiteAssignment,
)
from gridstream.settings import Settings
from gridstream.units import energy_value
from streams.compute.computation import (
    BatchContext,
    ComputationStep,
    evse_key,
    note_transaction,
)
from streams.compute.signal_book import Scope, SignalBook

COMPUTED_BY = "energy_balance/1"
SOC = "SoC"


@dataclass(frozen=True, slots=True)
class BalanceConfig:
    """The default bidding zone, and how long per-period memory is kept."""

    bidding_zone: str = "10YBE----------2"
    window: timedelta = timedelta(days=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> BalanceConfig:
        """Build from the one ``Settings`` object (the window covers the allowed lateness)."""
        return cls(
            settings.bidding_zone,
            max(timedelta(days=1), timedelta(seconds=settings.allowed_lateness_s)),
        )


@dataclass
class SiteBalances:
    """What one site's balances need to remember between batches."""

    #: ``station|evse`` -> period start ms -> the transaction reported in it.
    transactions: dict[str, dict[int, str]] = field(default_factory=dict)
    #: ``station|evse`` -> period start ms -> (first, last) state of charge (%).
    soc: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    #: Record key -> (revision, figures) last emitted.
    emitted: dict[str, tuple[int, list[Any]]] = field(default_factory=dict)
    newest_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "transactions": {k: list(v.items()) for k, v in self.transactions.items()},
            "soc": {k: [[s, *v] for s, v in m.items()] for k, m in self.soc.items()},
            "emitted": {k: [r, f] for k, (r, f) in self.emitted.items()},
            "newest_ms": self.newest_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteBalances:
        """The state of a ``to_dict`` snapshot."""
        return cls(
            {k: {int(s): tx for s, tx in v} for k, v in data["transactions"].items()},
            {k: {int(s): (a, b) for s, a, b in v} for k, v in data["soc"].items()},
            {k: (r, f) for k, (r, f) in data["emitted"].items()},
            data["newest_ms"],
        )


@dataclass(frozen=True, slots=True)
class Prices:
    """The prices (EUR/MWh) that value one site's period, and which kind each is."""

    import_price: GridSignal | None
    export_price: GridSignal | None
    imbalance_price: GridSignal | None


def prices_at(
    signals: SignalBook, site_id: str, info: SiteAssignment | None, zone: str, t_ms: int
) -> Prices:
    """The import, export and imbalance prices in force for a site at ``t_ms``."""
    site_scopes: list[Scope] = [("site", site_id)]
    if info is not None and info.ean:
        site_scopes.append(("site", info.ean))
    zone_scopes: list[Scope] = [("bidding_zone", zone), ("control_area", zone)]

    def first(kind: GridSignalKind, scopes: list[Scope]) -> GridSignal | None:
        for scope in scopes:
            price = signals.price(kind, scope, t_ms)
            if price is not None:
                return price
        return None

    day_ahead = first("day_ahead_price", zone_scopes)
    return Prices(
        first("energy_price", site_scopes) or day_ahead,
        first("feed_in_tariff", site_scopes) or day_ahead,
        first("imbalance_price", zone_scopes),
    )


def balance(
    scope: Literal["session", "site"],
    load: QuarterHourLoad | EvseQuarterHourLoad,
    prices: Prices,
    info: SiteAssignment | None,
    zone: str,
    **fields: Any,
) -> EnergyBalance:
    """The balance of one period's load, valued at ``prices`` (revision 0)."""
    imp, exp, imbalance = prices.import_price, prices.export_price, prices.imbalance_price
    cost = None if imp is None else energy_value(load.import_wh, imp.value)
    value = None if exp is None else energy_value(load.export_wh, exp.value)
    return EnergyBalance(
        scope=scope,
        site_id=load.site_id,
        brp=info.brp if info else None,
        bidding_zone=zone,
        interval_start=load.interval_start,
        import_wh=load.import_wh,
        export_wh=load.export_wh,
        net_wh=load.import_wh - load.export_wh,
        import_price_eur_mwh=None if imp is None else imp.value,
        import_price_kind=None if imp is None else imp.kind,
        export_price_eur_mwh=None if exp is None else exp.value,
        export_price_kind=None if exp is None else exp.kind,
        imbalance_price_eur_mwh=None if imbalance is None else imbalance.value,
        imbalance_value_eur=(
            None
            if imbalance is None
            else energy_value(load.export_wh - load.import_wh, imbalance.value)
        ),
        import_cost_eur=cost,
        export_value_eur=value,
        net_cost_eur=None if cost is None or value is None else cost - value,
        revision=0,
        computed_by=COMPUTED_BY,
        as_of=load.as_of,
        **fields,
    )


class EnergyBalances:
    """Session and site energy balances per settlement period, keyed by site."""

    name = "energy_balance"

    def __init__(self, config: BalanceConfig) -> None:
        """Value with ``config``'s default bidding zone."""
        self.config = config
        self._window_ms = config.window // timedelta(milliseconds=1)

    def process(
        self,
        states: MutableMapping[str, Any],
        samples: Sequence[MeterSample],
        context: BatchContext,
    ) -> ComputationStep:
        """Note the batch's transactions and SoC; emit the balances of its loads."""
        for sample in samples:
            if sample.evse_id is None or sample.evse_id == 0:
                continue
            state = self._state(states, sample.site_id)
            meter = evse_key(sample.station_id, sample.evse_id)
            t = to_epoch_ms(sample.ts)
            period = t - t % QH_MS
            if sample.transaction_id is not None:
                note_transaction(state.transactions.setdefault(meter, {}), t, sample.transaction_id)
            soc = [r.value for r in sample.readings if r.measurand == SOC and r.value is not None]
            if soc:
                first, _ = state.soc.setdefault(meter, {}).get(period, (soc[0], soc[0]))
                state.soc[meter][period] = (first, soc[-1])
            state.newest_ms = max(state.newest_ms or t, t)
        out: list[Record] = []
        changed: set[str] = set()
        for record in context.upstream:
            if isinstance(record, QuarterHourLoad):
                out += self._site(states, record, context)
                changed.add(record.site_id)
            elif isinstance(record, EvseQuarterHourLoad) and record.evse_id != 0:
                out += self._session(states, record, context)
                changed.add(record.site_id)
        for site_id in changed | {s.site_id for s in samples if s.site_id in states}:
            self._forget(states[site_id])
            changed.add(site_id)
        return ComputationStep(out, changed, {"balances": len(out)})

    @staticmethod
    def _state(states: MutableMapping[str, Any], site_id: str) -> SiteBalances:
        state = states.get(site_id)
        if state is None:
            state = states[site_id] = SiteBalances()
        return state

    def _valued(
        self, load: QuarterHourLoad | EvseQuarterHourLoad, context: BatchContext
    ) -> tuple[Prices, SiteAssignment | None, str]:
        info = context.site_info(load.site_id)
        zone = (info.bidding_zone if info else None) or self.config.bidding_zone
        t = to_epoch_ms(load.interval_start)
        return prices_at(context.signals, load.site_id, info, zone, t), info, zone

    def _site(
        self, states: MutableMapping[str, Any], load: QuarterHourLoad, context: BatchContext
    ) -> list[Record]:
        state = self._state(states, load.site_id)
        prices, info, zone = self._valued(load, context)
        key = f"site|{load.interval_start.isoformat()}"
        return _emit(state, key, balance("site", load, prices, info, zone), context)

    def _session(
        self, states: MutableMapping[str, Any], load: EvseQuarterHourLoad, context: BatchContext
    ) -> list[Record]:
        state = self._state(states, load.site_id)
        period = to_epoch_ms(load.interval_start)
        meter = evse_key(load.station_id, load.evse_id)
        transaction = load.transaction_id or state.transactions.get(meter, {}).get(period)
        if transaction is None:
            return []  # no session on this EVSE in the period
        soc = state.soc.get(meter, {}).get(period)
        prices, info, zone = self._valued(load, context)
        record = balance(
            "session",
            load,
            prices,
            info,
            zone,
            station_id=load.station_id,
            evse_id=load.evse_id,
            transaction_id=transaction,
            soc_start_pct=soc[0] if soc else None,
            soc_end_pct=soc[1] if soc else None,
        )
        key = f"session|{meter}|{transaction}|{load.interval_start.isoformat()}"
        return _emit(state, key, record, context)

    def _forget(self, state: SiteBalances) -> None:
        if state.newest_ms is None:
            return
        floor = state.newest_ms - self._window_ms
        for transactions in state.transactions.values():
            for start in [s for s in transactions if s < floor]:
                del transactions[start]
        for soc in state.soc.values():
            for start in [s for s in soc if s < floor]:
                del soc[start]
        floor_iso = from_epoch_ms(floor).isoformat()
        for key in [k for k in state.emitted if k.rsplit("|", 1)[1] < floor_iso]:
            del state.emitted[key]

    def to_dict(self, state: SiteBalances) -> dict[str, Any]:
        """``SiteBalances.to_dict``."""
        return state.to_dict()

    def from_dict(self, data: dict[str, Any]) -> SiteBalances:
        """``SiteBalances.from_dict``."""
        return SiteBalances.from_dict(data)

    def newest_ms(self, state: SiteBalances) -> int | None:
        """The newest reading seen."""
        return state.newest_ms


def _emit(
    state: SiteBalances, key: str, record: EnergyBalance, context: BatchContext
) -> list[Record]:
    figures = list(record.model_dump(mode="json", exclude={"revision", "as_of"}).values())
    held = state.emitted.get(key)
    if held is not None and held[1] == figures:
        return []
    revision = 0 if held is None else held[0] + 1
    state.emitted[key] = (revision, figures)
    return [record.model_copy(update={"revision": revision, "as_of": context.as_of})]
