"""Flexibility per site and per congestion area, with hand-worked numbers (DOMAIN.md).

One site, SITE-A in area GENT-NOORD, two EVSEs of station CS1, needs told at 10:00:

- EVSE 1, AC charging, no V2X: 20 kWh to its target, 30 kWh at most, leaves at 12:00,
  11 kW at most; registers 1,000 Wh at 10:00 and 1,600 Wh at 10:06, 6 kW.
- EVSE 2, DC_BPT (V2X): 5 kWh to its target, 40 kWh at most, leaves at 12:00, 20 kW charge
  and 10 kW discharge at most; registers 0 Wh at 10:00 and 500 Wh at 10:06, 5 kW.

For the period 10:15-10:30 (D = 0.25 h), at 10:00 (revision 0) and at 10:06 (revision 1):

- EVSE 1 at 10:00: E = 20,000, T = 2 h; Plo = max(0, (20,000 - 11,000 x 1.75) / 0.25) =
  3,000; Phi = min(11,000, 30,000 / 0.25) = 11,000; P0 = 6,000: reduce 3,000, increase 5,000.
  At 10:06: delivered 600 Wh, so E = 19,400 and Emax = 29,400; T = 1.9 h;
  Plo = (19,400 - 11,000 x 1.65) / 0.25 = 5,000; Phi = 11,000: reduce 1,000, increase 5,000
  (charging below its plan, it has less slack left).
- EVSE 2 at 10:06: delivered 500 Wh, so E = 4,500 and Emax = 39,500; T = 1.9 h;
  Plo = max(-10,000, (4,500 - 20,000 x 1.65) / 0.25) = -10,000; Phi = 20,000;
  P0 = 5,000: reduce 15,000, increase 15,000 (the same at 10:00).

Site at 10:06: baseline 11,000 W, reduce 16,000 W, increase 20,000 W, 2 sessions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gridstream.records import (
    EVChargingNeeds,
    FlexOffer,
    MeterSample,
    Reading,
    SiteAssignment,
    SiteFlexibility,
    TransactionEvent,
)
from streams.compute.computation import BatchContext
from streams.compute.flex_offers import FlexOffers
from streams.compute.flexibility import SiteFlexibilities
from streams.compute.needs_book import NeedsBook
from tests.unit.streams.compute.conftest import DAY, IMPORT, at

AREA = "GENT-NOORD"
NEXT_PERIOD = at("10:15")
UTC_ZONE = ZoneInfo("UTC")


def needs(evse: int, **fields: Any) -> EVChargingNeeds:
    return EVChargingNeeds(
        ts=at("10:00"), station_id="CS1", site_id="SITE-A", evse_id=evse, source="ocpp2.1",
        received_at=at("10:00"), **fields,
    )  # fmt: skip


AC = needs(
    1, requested_energy_transfer="AC_three_phase", departure_time=at("12:00"),
    target_energy_wh=20_000, max_energy_wh=30_000, max_charge_power_w=11_000,
)  # fmt: skip
V2X = needs(
    2, requested_energy_transfer="DC_BPT", departure_time=at("12:00"), target_energy_wh=5_000,
    max_energy_wh=40_000, max_charge_power_w=20_000, max_discharge_power_w=10_000,
)  # fmt: skip


def sample(evse: int, when: str, wh: float, w: float, transaction: str = "T1") -> MeterSample:
    return MeterSample(
        ts=at(when), station_id="CS1", site_id="SITE-A", evse_id=evse,
        transaction_id=f"{transaction}-{evse}", source="ocpp2.1", received_at=at(when),
        readings=(
            Reading(measurand=IMPORT, value=wh, unit="Wh"),
            Reading(measurand="Power.Active.Import", value=w, unit="W"),
        ),
    )  # fmt: skip


class Site:
    """The site-level computation with a registry placing SITE-A in GENT-NOORD."""

    def __init__(self, area: str | None = AREA) -> None:
        self.book = NeedsBook()
        self.states: dict[str, Any] = {}
        self.computation = SiteFlexibilities()
        self.info = SiteAssignment(station_id="CS1", site_id="SITE-A", congestion_area=area)

    def run(self, *samples: MeterSample) -> list[SiteFlexibility]:
        context = BatchContext(
            DAY, lambda s: UTC_ZONE, site_info=lambda s: self.info,
            needs=self.book,
        )  # fmt: skip
        records = self.computation.process(self.states, list(samples), context).records
        assert all(isinstance(r, SiteFlexibility) for r in records)
        return records  # type: ignore[return-value]


def test_a_sites_sessions_are_summed_for_the_next_period() -> None:
    site = Site()
    site.book.add_needs(AC)
    site.book.add_needs(V2X)
    site.run(sample(1, "10:00", 1_000, 6_000), sample(2, "10:00", 0, 5_000))
    [flex] = site.run(sample(1, "10:06", 1_600, 6_000), sample(2, "10:06", 500, 5_000))
    assert flex.interval_start == at("10:15")
    assert flex.congestion_area == AREA
    assert (flex.baseline_w, flex.reduce_w, flex.increase_w) == (11_000, 16_000, 20_000)
    assert (flex.sessions, flex.unknown_departure) == (2, 0)
    assert flex.revision == 1  # the 10:00 batch offered for the same period first


def test_an_ended_session_no_longer_offers_and_the_site_is_revised() -> None:
    site = Site()
    site.book.add_needs(AC)
    site.book.add_needs(V2X)
    site.run(sample(1, "10:00", 1_000, 6_000), sample(2, "10:00", 0, 5_000))
    site.run(sample(1, "10:06", 1_600, 6_000), sample(2, "10:06", 500, 5_000))
    site.book.add_event(
        TransactionEvent(
            ts=at("10:07"), station_id="CS1", site_id="SITE-A", evse_id=1,
            transaction_id="T1-1", event_type="ended", source="ocpp2.1",
            received_at=at("10:07"),
        )
    )  # fmt: skip
    # EVSE 2 alone at 10:08: delivered 700 Wh, E = 4,300, T = 52/60 h:
    # Plo = max(-10,000, (4,300 - 20,000 x (52/60 - 0.25)) / 0.25) = -10,000 -> reduce 15,000
    [flex] = site.run(sample(2, "10:08", 700, 5_000))
    assert (flex.baseline_w, flex.reduce_w, flex.increase_w, flex.sessions) == (
        5_000, 15_000, 15_000, 1,
    )  # fmt: skip


def test_a_1_6_end_without_evse_ends_the_session_of_its_transaction() -> None:
    site = Site()
    site.book.add_needs(AC)
    site.run(sample(1, "10:00", 1_000, 6_000))
    site.book.add_event(
        TransactionEvent(
            ts=at("10:05"), station_id="CS1", site_id="SITE-A", transaction_id="T1-1",
            event_type="ended", source="ocpp1.6", received_at=at("10:05"),
        )
    )  # fmt: skip
    [flex] = site.run(sample(1, "10:06", 1_000, 0))
    assert (flex.sessions, flex.baseline_w, flex.reduce_w) == (0, 0, 0)


def test_a_session_that_does_not_say_when_it_leaves_offers_no_reduction() -> None:
    site = Site()
    site.book.add_needs(AC.model_copy(update={"departure_time": None}))
    [flex] = site.run(sample(1, "10:00", 1_000, 6_000))
    # E = 20,000 > 0: Phi = min(11,000, 30,000 / 0.25) = 11,000, P0 6,000 -> increase 5,000;
    # reduce 0 (it might need all of it now)
    assert (flex.baseline_w, flex.reduce_w, flex.increase_w) == (6_000, 0, 5_000)
    assert (flex.sessions, flex.unknown_departure) == (1, 1)


def test_a_session_at_target_offers_only_what_v2x_allows() -> None:
    site = Site()
    site.book.add_needs(V2X.model_copy(update={"target_energy_wh": 400}))
    site.run(sample(2, "10:00", 0, 5_000))
    # delivered 500 > 400: at target; Plo = -Pdis = -10,000, Phi = min(P0, Pmax) = 5,000
    [flex] = site.run(sample(2, "10:06", 500, 5_000))
    assert (flex.reduce_w, flex.increase_w) == (15_000, 0)


def test_sites_outside_any_congestion_area_offer_nothing_but_are_counted() -> None:
    site = Site(area=None)
    site.book.add_needs(AC)
    context = BatchContext(DAY, lambda s: UTC_ZONE, site_info=lambda s: site.info,
                           needs=site.book)  # fmt: skip
    step = site.computation.process(site.states, [sample(1, "10:00", 1_000, 6_000)], context)
    assert step.records == []
    assert step.counts["flex_unassigned_sites"] == 1


def test_unchanged_figures_are_not_sent_again() -> None:
    site = Site()
    site.book.add_needs(AC.model_copy(update={"departure_time": None}))
    assert len(site.run(sample(1, "10:00", 1_000, 6_000))) == 1
    # 10:01, same power, same period: E is less but nothing offered depends on it
    assert site.run(sample(1, "10:01", 1_100, 6_000)) == []


def test_site_state_survives_its_checkpoint() -> None:
    site = Site()
    site.book.add_needs(AC)
    site.book.add_needs(V2X)
    site.run(sample(1, "10:00", 1_000, 6_000), sample(2, "10:00", 0, 5_000))
    snapshot = site.computation.to_dict(site.states["SITE-A"])
    site.states["SITE-A"] = site.computation.from_dict(snapshot)
    [flex] = site.run(sample(1, "10:06", 1_600, 6_000), sample(2, "10:06", 500, 5_000))
    assert (flex.baseline_w, flex.reduce_w, flex.increase_w, flex.revision) == (
        11_000, 16_000, 20_000, 1,
    )  # fmt: skip


def site_flex(site: str, revision: int, baseline: float, reduce: float, increase: float,
              sessions: int, start: datetime = NEXT_PERIOD) -> SiteFlexibility:  # fmt: skip
    return SiteFlexibility(
        site_id=site, congestion_area=AREA, interval_start=start, baseline_w=baseline,
        reduce_w=reduce, increase_w=increase, sessions=sessions, reading_ts=at("10:06"),
        revision=revision, computed_by="test", as_of=DAY,
    )  # fmt: skip


def offers(states: dict[str, Any], *sites: SiteFlexibility) -> tuple[list[FlexOffer], int]:
    step = FlexOffers().process(states, list(sites), BatchContext(DAY, lambda s: UTC_ZONE))
    return step.records, step.counts["flex_stale"]  # type: ignore[return-value]


def test_an_area_offers_the_sum_of_its_sites_latest_figures() -> None:
    states: dict[str, Any] = {}
    [offer], _ = offers(
        states,
        site_flex("SITE-A", 0, 16_000, 26_000, 15_000, 2),
        site_flex("SITE-B", 0, 7_000, 7_000, 0, 1),
    )
    assert (offer.congestion_area, offer.interval_start, offer.interval_end) == (
        AREA, at("10:15"), at("10:30"),
    )  # fmt: skip
    assert (offer.baseline_w, offer.reduce_w, offer.increase_w) == (23_000, 33_000, 15_000)
    assert (offer.sessions, offer.sites, offer.revision) == (3, 2, 0)
    # SITE-B's session ends: the area's offer is revised to SITE-A's alone
    [revised], _ = offers(states, site_flex("SITE-B", 1, 0, 0, 0, 0))
    assert (revised.baseline_w, revised.reduce_w, revised.increase_w) == (16_000, 26_000, 15_000)
    assert (revised.sessions, revised.sites, revised.revision) == (2, 1, 1)
    assert revised.offer_id == offer.offer_id


def test_an_older_site_revision_arriving_late_changes_nothing() -> None:
    states: dict[str, Any] = {}
    offers(states, site_flex("SITE-A", 1, 16_000, 26_000, 15_000, 2))
    out, stale = offers(states, site_flex("SITE-A", 0, 11_000, 0, 0, 1))
    assert (out, stale) == ([], 1)


def test_periods_are_offered_apart() -> None:
    states: dict[str, Any] = {}
    out, _ = offers(
        states,
        site_flex("SITE-A", 0, 16_000, 26_000, 15_000, 2),
        site_flex("SITE-A", 0, 5_000, 15_000, 15_000, 1, start=at("10:30")),
    )
    assert [(o.interval_start, o.baseline_w) for o in out] == [
        (at("10:15"), 16_000), (at("10:30"), 5_000),
    ]  # fmt: skip
    area = FlexOffers().from_dict(FlexOffers().to_dict(states[AREA]))
    assert area.sites == states[AREA].sites


def test_needs_stand_until_their_session_ends_or_they_grow_too_old() -> None:
    book = NeedsBook(max_age=timedelta(hours=48))
    book.add_needs(AC)
    assert book.needs_at("SITE-A", at("09:59")) == []  # not yet told
    assert book.needs_at("SITE-A", at("11:00")) == [AC]
    assert book.needs_at("SITE-A", AC.ts + timedelta(hours=48)) == []
    older = AC.model_copy(update={"ts": at("09:00"), "target_energy_wh": 1.0})
    book.add_needs(older)  # late, older needs do not replace newer ones
    assert book.needs_at("SITE-A", at("11:00")) == [AC]
    book.add_event(
        TransactionEvent(
            ts=at("12:00"), station_id="CS1", site_id="SITE-A", evse_id=2,
            transaction_id="X", event_type="ended", source="ocpp2.1", received_at=at("12:00"),
        )
    )  # fmt: skip
    assert not book.ended(AC, "T1-1", at("12:30"))  # another EVSE's session ended
    book.forget_before(at("10:30"))
    assert book.needs_at("SITE-A", at("11:00")) == []


@pytest.mark.parametrize("transfer, discharge", [("AC_three_phase", 0), ("DC_BPT", 10_000)])
def test_discharge_counts_only_when_the_ev_asked_for_bidirectional_transfer(
    transfer: str, discharge: float
) -> None:
    site = Site()
    site.book.add_needs(V2X.model_copy(update={"requested_energy_transfer": transfer}))
    # at 10:00: E = 5,000, T = 2 h: Plo = max(-Pdis, (5,000 - 20,000 x 1.75) / 0.25 =
    # -120,000) = -Pdis: reduce = P0 + Pdis
    [flex] = site.run(sample(2, "10:00", 0, 5_000))
    assert flex.reduce_w == 5_000 + discharge
