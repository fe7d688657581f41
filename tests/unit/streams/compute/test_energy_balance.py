"""V2X energy balances per session and site, valued at the prices in force, by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gridstream.records import (
    EnergyBalance,
    EvseQuarterHourLoad,
    GridSignal,
    MeterSample,
    QuarterHourLoad,
    Reading,
    Record,
    SiteAssignment,
)
from streams.compute.computation import BatchContext
from streams.compute.energy_balance import BalanceConfig, EnergyBalances
from streams.compute.signal_book import SignalBook

SITE = "EAN-541448"
ZONE = "10YBE----------2"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(quarter: int, minutes: float = 0) -> datetime:
    return T0 + timedelta(minutes=15 * quarter + minutes)


def sample(quarter: int, minutes: float, tx: str | None, soc: float | None = None) -> MeterSample:
    readings = [Reading(measurand="Energy.Active.Import.Register", value=0.0, unit="Wh")]
    if soc is not None:
        readings.append(Reading(measurand="SoC", value=soc, unit="%"))
    return MeterSample(
        ts=at(quarter, minutes), station_id="CP-1", site_id=SITE, evse_id=1, transaction_id=tx,
        source="ocpp2.1", received_at=at(quarter, minutes), readings=tuple(readings),
    )  # fmt: skip


def evse(quarter: int, imp_kwh: float, exp_kwh: float = 0.0, *, evse_id: int = 1,
         revision: int = 0) -> EvseQuarterHourLoad:  # fmt: skip
    return EvseQuarterHourLoad(
        site_id=SITE, station_id="CP-1", evse_id=evse_id, transaction_id=None,
        interval_start=at(quarter), import_wh=imp_kwh * 1000, export_wh=exp_kwh * 1000,
        avg_import_w=imp_kwh * 4000, avg_export_w=exp_kwh * 4000, completeness=1,
        estimated=False, in_site_load=True, revision=revision, computed_by="t", as_of=T0,
    )  # fmt: skip


def site(quarter: int, imp_kwh: float, exp_kwh: float = 0.0) -> QuarterHourLoad:
    return QuarterHourLoad(
        site_id=SITE, interval_start=at(quarter), import_wh=imp_kwh * 1000,
        export_wh=exp_kwh * 1000, avg_import_w=imp_kwh * 4000, avg_export_w=exp_kwh * 4000,
        meters=1, completeness=1, estimated=False, revision=0, computed_by="t", as_of=T0,
    )  # fmt: skip


def price(
    kind: str, scope: tuple[str, str], quarter: int, eur_mwh: float, quarters: int = 1
) -> GridSignal:
    return GridSignal(
        kind=kind, scope_type=scope[0], scope_id=scope[1], interval_start=at(quarter),  # type: ignore[arg-type]
        interval_end=at(quarter + quarters), resolution="PT15M", value=eur_mwh, unit="EUR/MWh",
        source="test", document_id="d", revision=1, received_at=T0,
    )  # fmt: skip


class Harness:
    def __init__(self, *signals: GridSignal, brp: str | None = "10X-BRP-1") -> None:
        self.computation = EnergyBalances(BalanceConfig())
        self.states: dict[str, Any] = {}
        self.book = SignalBook()
        self.book.add_all(signals)
        self.info = SiteAssignment(station_id="CP-1", site_id=SITE, brp=brp)

    def feed(self, *records: Record | MeterSample) -> list[EnergyBalance]:
        samples = [r for r in records if isinstance(r, MeterSample)]
        context = BatchContext(
            T0, lambda s: ZoneInfo("Europe/Brussels"), site_info=lambda s: self.info,
            signals=self.book, upstream=[r for r in records if not isinstance(r, MeterSample)],
        )  # fmt: skip
        out = self.computation.process(self.states, samples, context).records
        assert all(isinstance(r, EnergyBalance) for r in out)
        return out  # type: ignore[return-value]


def test_a_session_imports_then_exports_valued_at_the_day_ahead_prices_even_negative() -> None:
    h = Harness(
        price("day_ahead_price", ("bidding_zone", ZONE), 0, 100.0),
        price("day_ahead_price", ("bidding_zone", ZONE), 1, -20.0),
    )
    first, second = h.feed(
        sample(0, 0, "TX-1"), sample(0, 7, "TX-1"), evse(0, 2.0),
        sample(1, 7, "TX-1"), sample(2, 0, "TX-1"), evse(1, 0.0, 1.0),
    )  # fmt: skip
    assert (first.transaction_id, first.import_wh, first.net_wh) == ("TX-1", 2_000, 2_000)
    assert first.import_cost_eur == pytest.approx(0.20)  # 0.002 MWh x 100 EUR/MWh
    assert first.import_price_kind == "day_ahead_price"
    assert (second.export_wh, second.net_wh) == (1_000, -1_000)
    # exporting 1 kWh at -20 EUR/MWh is worth -0.02 EUR: it costs 0.02 EUR
    assert second.export_value_eur == pytest.approx(-0.02)
    assert second.net_cost_eur == pytest.approx(0.02)


def test_the_sites_own_energy_price_and_feed_in_tariff_come_before_the_day_ahead_price() -> None:
    h = Harness(
        price("day_ahead_price", ("bidding_zone", ZONE), 0, 100.0),
        price("energy_price", ("site", SITE), 0, 250.0),
        price("feed_in_tariff", ("site", SITE), 0, 40.0),
    )
    [b] = h.feed(site(0, 4.0, 2.0))
    assert (b.scope, b.import_price_eur_mwh, b.export_price_eur_mwh) == ("site", 250.0, 40.0)
    # 4 kWh x 250 = 1.00 EUR; 2 kWh x 40 = 0.08 EUR; net 0.92 EUR
    assert (b.import_cost_eur, b.export_value_eur, b.net_cost_eur) == pytest.approx(
        (1.0, 0.08, 0.92)
    )


def test_the_imbalance_value_is_the_periods_export_minus_import_at_the_imbalance_price() -> None:
    h = Harness(price("imbalance_price", ("control_area", ZONE), 0, 200.0))
    [b] = h.feed(site(0, 3.0, 1.0))
    # (1 - 3) kWh = -0.002 MWh x 200 EUR/MWh = -0.40 EUR; no day-ahead price: no cost
    assert b.imbalance_value_eur == pytest.approx(-0.40)
    assert (b.import_cost_eur, b.net_cost_eur, b.brp) == (None, None, "10X-BRP-1")


def test_a_revision_re_emits_and_the_same_figures_again_do_not() -> None:
    h = Harness()
    [b] = h.feed(sample(0, 3, "TX-1"), evse(0, 2.0))
    [revised] = h.feed(evse(0, 2.5, revision=1))
    assert (revised.revision, revised.import_wh) == (b.revision + 1, 2_500)
    assert h.feed(evse(0, 2.5, revision=1)) == []
    h.states[SITE] = h.computation.from_dict(h.computation.to_dict(h.states[SITE]))
    assert h.feed(evse(0, 2.5, revision=1)) == []  # the snapshot remembers what was emitted


def test_energy_without_a_session_or_on_the_main_meter_is_no_sessions() -> None:
    h = Harness()
    assert h.feed(evse(0, 1.0)) == []  # no transaction reported on the EVSE
    assert h.feed(sample(1, 1, "TX-9"), evse(1, 1.0, evse_id=0)) == []  # EVSE 0


def test_the_reading_that_closes_a_period_names_its_session_and_soc_is_kept() -> None:
    h = Harness()
    [b] = h.feed(sample(0, 5, None, soc=40), sample(1, 0, "TX-2", soc=46), evse(0, 3.0))
    assert b.transaction_id == "TX-2"  # the 12:15 reading closed the 12:00 period
    assert (b.soc_start_pct, b.soc_end_pct) == (40, 40)  # 12:15's SoC is the next period's
