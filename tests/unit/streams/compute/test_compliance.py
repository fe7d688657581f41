"""Charging-profile compliance: planned against metered per quarter-hour, worked by hand.

Station CS1 on SITE-A; the quarter-hour 10:00-10:15; tolerance 5 %, at least 100 W.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gridstream.periods import to_epoch_ms
from gridstream.records import (
    ChargingLimit,
    EvseQuarterHourLoad,
    GridSignal,
    MeterSample,
    ProfileCompliance,
    QuarterHourLoad,
    Reading,
    Record,
    SiteAssignment,
)
from streams.compute.compliance import Compliance, ComplianceConfig
from streams.compute.computation import BatchContext
from streams.compute.limit_book import LimitBook
from streams.compute.signal_book import SignalBook
from tests.unit.streams.compute.conftest import DAY, IMPORT, at

QH = at("10:00")


def limit(
    w: float, start: str = "10:00", end: str | None = None, *, evse: int = 1,
    purpose: str | None = "TxProfile", stack: int = 0, source: str = "CSMS",
    transaction: str | None = None, received: str = "09:59",
) -> ChargingLimit:  # fmt: skip
    return ChargingLimit(
        station_id="CS1", site_id="SITE-A", evse_id=evse, transaction_id=transaction,
        profile_key=f"CS1|{evse}|{purpose or 'external'}|{stack}|{source}", purpose=purpose,
        stack_level=stack, limit_source=source, interval_start=at(start),
        interval_end=None if end is None else at(end), rate_unit="W", rate_limit=w,
        limit_w=w, source="ocpp2.0.1", action="SetChargingProfile", received_at=at(received),
    )  # fmt: skip


def evse_load(avg_w: float, evse: int = 1, revision: int = 0) -> EvseQuarterHourLoad:
    return EvseQuarterHourLoad(
        site_id="SITE-A", station_id="CS1", evse_id=evse, transaction_id=None,
        interval_start=QH, import_wh=avg_w * 0.25, export_wh=0, avg_import_w=avg_w,
        avg_export_w=0, completeness=1, estimated=False, in_site_load=True, revision=revision,
        computed_by="test", as_of=DAY,
    )  # fmt: skip


def sample(evse: int, transaction: str) -> MeterSample:
    return MeterSample(
        ts=at("10:05"), station_id="CS1", site_id="SITE-A", evse_id=evse,
        transaction_id=transaction, source="ocpp2.0.1", received_at=at("10:05"),
        readings=(Reading(measurand=IMPORT, value=1_000, unit="Wh"),),
    )  # fmt: skip


class Judge:
    def __init__(self) -> None:
        self.limits = LimitBook()
        self.signals = SignalBook()
        self.states: dict[str, Any] = {}
        self.computation = Compliance(ComplianceConfig(tolerance=0.05, tolerance_w=100))

    def run(
        self, upstream: list[Record], samples: tuple[MeterSample, ...] | list[MeterSample] = ()
    ) -> list[ProfileCompliance]:
        context = BatchContext(
            DAY, lambda s: ZoneInfo("UTC"), site_info=lambda s: SiteAssignment(
                station_id="CS1", site_id="SITE-A", ean="541448000000000001"),
            signals=self.signals, limits=self.limits, upstream=upstream,
        )  # fmt: skip
        out = self.computation.process(self.states, list(samples), context).records
        return [r for r in out if isinstance(r, ProfileCompliance)]


def test_an_evse_above_its_limit_all_quarter_hour_does_not_comply() -> None:
    judge = Judge()
    judge.limits.add(limit(7_000))
    [check] = judge.run([evse_load(11_000)])
    # planned 7,000 over 900 s, metered 11,000: 4,000 above, 1,000 Wh above the plan
    assert (check.scope, check.covered_s, check.planned_w, check.metered_w) == (
        "evse", 900, 7_000, 11_000,
    )  # fmt: skip
    assert (check.deviation_w, check.energy_above_plan_wh, check.compliant) == (4_000, 1_000, False)
    assert check.limit_source == "CSMS:TxProfile"


def test_a_limit_that_changes_mid_quarter_hour_is_weighted_by_time() -> None:
    judge = Judge()
    judge.limits.add(limit(11_000, "10:00", "10:05", stack=1))
    judge.limits.add(limit(5_000, "10:05", None, stack=2, received="10:04"))
    # (11,000 x 300 + 5,000 x 600) / 900 = 7,000; metered 7,200: 200 <= max(350, 100)
    [check] = judge.run([evse_load(7_200)])
    assert check.planned_w == pytest.approx(7_000)
    assert (check.deviation_w, check.compliant) == (pytest.approx(200), True)


def test_a_profile_replaced_mid_quarter_hour_counts_until_the_new_one_starts() -> None:
    judge = Judge()
    judge.limits.add(limit(11_000, "09:00", received="08:59"))
    # SetChargingProfile again (same EVSE, purpose and stack level) at 10:05, from 10:05
    judge.limits.add(limit(5_000, "10:05", received="10:05"))
    # (11,000 x 300 + 5,000 x 600) / 900 = 7,000 over the whole quarter-hour; 7,200 metered
    [check] = judge.run([evse_load(7_200)])
    assert (check.covered_s, check.planned_w) == (900, pytest.approx(7_000))
    assert (check.deviation_w, check.compliant) == (pytest.approx(200), True)
    # the next quarter-hour is the new profile's alone
    assert [(p.limit_w, p.interval_start, p.interval_end) for p in judge.limits.limits_over(
        "CS1", at("10:15"), at("10:30"))] == [(5_000, at("10:05"), None)]  # fmt: skip


def test_a_partly_covered_quarter_hour_is_reported_but_not_judged() -> None:
    judge = Judge()
    judge.limits.add(limit(7_000, "10:05"))
    [check] = judge.run([evse_load(11_000)])
    assert (check.covered_s, check.planned_w, check.compliant) == (600, 7_000, None)


@pytest.mark.parametrize(
    "tx_profile_for, expected_w",
    [
        # TxProfile (8 kW, stack 1) of this session beats the default (11 kW); the external
        # limit (9 kW) is higher: 8,000
        ("T1", 8_000),
        # a TxProfile of another session does not apply: min(default 11,000, external 9,000)
        ("T9", 9_000),
    ],
)
def test_the_limit_in_force_follows_ocpp_precedence(tx_profile_for: str, expected_w: float) -> None:
    judge = Judge()
    judge.limits.add(limit(11_000, evse=0, purpose="TxDefaultProfile"))
    judge.limits.add(limit(8_000, stack=1, transaction=tx_profile_for))
    judge.limits.add(limit(9_000, purpose=None, source="EMS"))
    [check] = judge.run([evse_load(8_000)], [sample(1, "T1")])
    assert check.planned_w == expected_w
    assert check.transaction_id == "T1"


def test_a_station_wide_maximum_is_held_against_the_sum_of_its_evses() -> None:
    judge = Judge()
    judge.limits.add(limit(10_000, evse=0, purpose="ChargingStationMaxProfile"))
    checks = judge.run([evse_load(6_000, evse=1), evse_load(6_000, evse=2)])
    [station] = [c for c in checks if c.scope == "station"]
    assert (station.evse_id, station.planned_w, station.metered_w) == (0, 10_000, 12_000)
    assert (station.deviation_w, station.compliant) == (2_000, False)
    assert [c for c in checks if c.scope == "evse"] == []  # a maximum is not an EVSE's limit


@pytest.mark.parametrize("export_wh, compliant", [(1_250, True), (1_000, False)])
def test_a_site_setpoint_is_kept_within_the_tolerance_either_way(
    export_wh: float, compliant: bool
) -> None:
    judge = Judge()
    judge.signals.add(
        GridSignal(
            kind="dispatch_setpoint", scope_type="site", scope_id="541448000000000001",
            interval_start=QH, interval_end=at("10:15"), resolution="PT15M", value=-5_000,
            unit="W", source="openadr3", document_id="event-1", revision=0,
            received_at=at("09:50"),
        )
    )  # fmt: skip
    load = QuarterHourLoad(
        site_id="SITE-A", interval_start=QH, import_wh=0, export_wh=export_wh,
        avg_import_w=0, avg_export_w=export_wh * 4, meters=1, completeness=1,
        estimated=False, revision=0, computed_by="test", as_of=DAY,
    )  # fmt: skip
    [check] = judge.run([load])
    # metered -5,000 (1,250 Wh out) or -4,000 (1,000 Wh): allowance max(250, 100) either way
    assert (check.scope, check.planned_w, check.compliant) == ("site", -5_000, compliant)


def test_a_late_limit_revises_the_check_when_the_load_is_revised() -> None:
    judge = Judge()
    judge.limits.add(limit(7_000))
    [first] = judge.run([evse_load(11_000)])
    judge.limits.add(limit(12_000, received="10:20"))  # the same profile, sent again
    [second] = judge.run([evse_load(11_000, revision=1)])
    assert (first.revision, second.revision) == (0, 1)
    assert (second.planned_w, second.compliant) == (12_000, True)
    assert judge.run([evse_load(11_000, revision=2)]) == []  # nothing changed


def test_site_state_survives_its_checkpoint() -> None:
    judge = Judge()
    judge.limits.add(limit(7_000))
    judge.run([evse_load(11_000)], [sample(1, "T1")])
    state = judge.computation.from_dict(judge.computation.to_dict(judge.states["SITE-A"]))
    assert state == judge.states["SITE-A"]


def test_no_limit_no_check() -> None:
    assert Judge().run([evse_load(11_000)]) == []


# -- OCPI: meters keyed by their session, and the profile ids stations report ------------

OCPI_STATION = "BE*BEC*E1"


def session_limit(
    w: float, session: str = "S1", start: str = "10:00", *, profile_id: str | None = "cp-1",
    received: str = "09:59",
) -> ChargingLimit:  # fmt: skip
    """An OCPI ActiveChargingProfile period as the connector makes it (TxProfile, EVSE 0)."""
    return ChargingLimit(
        station_id=OCPI_STATION, site_id="SITE-A", evse_id=0, transaction_id=session,
        profile_key=f"{OCPI_STATION}|session|{session}", charging_profile_id=profile_id,
        purpose="TxProfile", limit_source="OCPI:BE*BEC", interval_start=at(start),
        rate_unit="A", rate_limit=w / 690, limit_w=w, source="ocpi2.2.1",
        action="ActiveChargingProfile", received_at=at(received),
    )  # fmt: skip


def session_load(avg_w: float, session: str = "S1", revision: int = 0) -> EvseQuarterHourLoad:
    """An OCPI meter's quarter-hour: its EVSE unknown, so keyed by its session."""
    return EvseQuarterHourLoad(
        site_id="SITE-A", station_id=OCPI_STATION, evse_id=None, transaction_id=session,
        interval_start=QH, import_wh=avg_w * 0.25, export_wh=0, avg_import_w=avg_w,
        avg_export_w=0, completeness=1, estimated=False, in_site_load=True, revision=revision,
        computed_by="test", as_of=DAY,
    )  # fmt: skip


def ocpi_sample(ts: str, profile_id: str | None, session: str = "S1") -> MeterSample:
    return MeterSample(
        ts=at(ts), station_id=OCPI_STATION, site_id="SITE-A", transaction_id=session,
        source="ocpi3.0", received_at=at(ts), charging_profile_id=profile_id,
        readings=(Reading(measurand="Power.Active.Import", value=12_000, unit="W"),),
    )  # fmt: skip


def test_an_ocpi_session_is_held_against_its_active_charging_profile() -> None:
    judge = Judge()
    # 16 A per phase on 3 phases at 230 V: 16 x 230 x 3 = 11,040 W
    judge.limits.add(session_limit(11_040))
    [check] = judge.run([session_load(12_000)])
    # metered 12,000 - planned 11,040 = 960 W above; allowance max(5 % x 11,040 = 552, 100)
    # = 552, so not kept; 960 W x 0.25 h = 240 Wh above the plan
    assert (check.scope, check.station_id, check.evse_id, check.transaction_id) == (
        "evse", OCPI_STATION, None, "S1",
    )  # fmt: skip
    assert (check.planned_w, check.metered_w, check.deviation_w) == (11_040, 12_000, 960)
    assert (check.energy_above_plan_wh, check.compliant) == (240, False)
    assert check.limit_source == "OCPI:BE*BEC:TxProfile"
    assert check.profile_keys == (f"{OCPI_STATION}|session|S1",)


def test_another_sessions_profile_does_not_apply_to_an_ocpi_meter() -> None:
    judge = Judge()
    judge.limits.add(session_limit(11_040, session="S0"))
    assert judge.run([session_load(12_000, session="S1")]) == []


@pytest.mark.parametrize(
    "reported, held, ids, mismatch",
    [
        # the station names the profile gridstream holds as active
        (("cp-1",), "cp-1", ("cp-1",), False),
        # it names another one: flagged (its content is unknown, so the plan stays cp-1's)
        (("cp-2",), "cp-1", ("cp-2",), True),
        # the held profile has no id (OCPI 2.2.1 profiles have none): nothing to hold it to
        (("cp-2",), None, ("cp-2",), None),
        # the samples name no profile
        ((None,), "cp-1", (), None),
    ],
)
def test_the_profile_a_station_reports_is_held_against_the_one_gridstream_holds(
    reported: tuple[str | None, ...], held: str | None, ids: tuple[str, ...], mismatch: bool | None
) -> None:
    judge = Judge()
    judge.limits.add(session_limit(11_040, profile_id=held))
    samples = [ocpi_sample("10:05", r) for r in reported]
    [check] = judge.run([session_load(12_000)], samples)
    assert (check.reported_profile_ids, check.profile_id_mismatch) == (ids, mismatch)
    assert check.planned_w == 11_040  # a bare id never changes the plan


def test_a_sample_on_the_boundary_names_the_profile_of_the_quarter_hour_it_closes() -> None:
    judge = Judge()
    judge.limits.add(session_limit(11_040))
    # 10:15:00 closes 10:00-10:15 (no sample inside it named a profile) and opens 10:15
    [check] = judge.run([session_load(12_000)], [ocpi_sample("10:15", "cp-1")])
    assert (check.reported_profile_ids, check.profile_id_mismatch) == (("cp-1",), False)
    assert judge.states["SITE-A"].reported[f"{OCPI_STATION}|tx:S1"] == {
        to_epoch_ms(at("10:00")): ["cp-1"],
        to_epoch_ms(at("10:15")): ["cp-1"],
    }


def test_a_newly_reported_profile_id_revises_the_check() -> None:
    judge = Judge()
    judge.limits.add(session_limit(11_040))
    [first] = judge.run([session_load(12_000)], [ocpi_sample("10:05", "cp-1")])
    [second] = judge.run([session_load(12_000, revision=1)], [ocpi_sample("10:10", "cp-2")])
    assert (first.revision, first.profile_id_mismatch) == (0, False)
    assert (second.revision, second.reported_profile_ids) == (1, ("cp-1", "cp-2"))
    assert second.profile_id_mismatch is True


def test_reported_ids_survive_the_checkpoint_and_older_snapshots_still_load() -> None:
    judge = Judge()
    judge.limits.add(session_limit(11_040))
    judge.run([session_load(12_000)], [ocpi_sample("10:05", "cp-1")])
    snapshot = judge.computation.to_dict(judge.states["SITE-A"])
    assert judge.computation.from_dict(snapshot) == judge.states["SITE-A"]
    del snapshot["reported"]  # a snapshot written before profile ids were noted
    assert judge.computation.from_dict(snapshot).reported == {}
