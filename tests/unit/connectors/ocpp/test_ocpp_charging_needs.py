"""NotifyEVChargingNeeds (2.0.1 and 2.1) -> one EVChargingNeeds record, answered Accepted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.ocpp import Accepted, Rejected
from connectors.ocpp.charging_needs import phase_total
from gridstream.records import EVChargingNeeds


def needs(**charging_needs):
    return {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC", **charging_needs}}


def record(result) -> EVChargingNeeds:
    assert isinstance(result, Accepted), result
    assert result.response == {"status": "Accepted"}
    (out,) = result.records
    return out


def test_2_0_1_dc_needs_keep_every_parameter(run_call, now):
    payload = needs(
        departureTime="2026-01-15T19:30:00+01:00",
        dcChargingParameters={
            "evMaxCurrent": 200, "evMaxVoltage": 450, "energyAmount": 30000,
            "evMaxPower": 90000, "stateOfCharge": 20, "evEnergyCapacity": 75000,
            "fullSoC": 100, "bulkSoC": 80,
        },
    ) | {"maxScheduleTuples": 24}  # fmt: skip
    got = record(run_call("NotifyEVChargingNeeds", payload, "ocpp2.0.1", message_id="n-1"))
    assert got == EVChargingNeeds(
        ts=now,  # 2.0.1 has no timestamp: the receive time
        station_id="CS-1",
        site_id="SITE-1",
        evse_id=1,
        source="ocpp2.0.1",
        received_at=now,
        message_id="n-1",
        requested_energy_transfer="DC",
        departure_time=datetime(2026, 1, 15, 18, 30, tzinfo=UTC),  # 19:30+01:00
        max_schedule_tuples=24,
        energy_amount_wh=30000.0,
        ev_max_current_a=200.0,
        ev_max_voltage_v=450.0,
        ev_max_power_w=90000.0,
        ev_energy_capacity_wh=75000.0,
        soc_pct=20.0,
        full_soc_pct=100.0,
        bulk_soc_pct=80.0,
    )


def test_ac_needs_fill_the_shared_fields(run_call):
    payload = needs(
        requestedEnergyTransfer="AC_three_phase",
        acChargingParameters={"energyAmount": 20000, "evMinCurrent": 6, "evMaxCurrent": 16,
                              "evMaxVoltage": 400},
    )  # fmt: skip
    got = record(run_call("NotifyEVChargingNeeds", payload, "ocpp2.0.1"))
    ac = (got.energy_amount_wh, got.ev_min_current_a, got.ev_max_current_a, got.ev_max_voltage_v)
    assert ac == (20000.0, 6.0, 16.0, 400.0)
    assert got.ev_max_power_w is None  # a DC-only parameter


@pytest.mark.parametrize(("transfer", "energy"), [("DC", 30000.0), ("AC_single_phase", 7000.0)])
def test_when_both_ac_and_dc_come_the_requested_mode_wins(run_call, transfer, energy):
    payload = needs(
        requestedEnergyTransfer=transfer,
        acChargingParameters={"energyAmount": 7000, "evMinCurrent": 6, "evMaxCurrent": 32,
                              "evMaxVoltage": 230},
        dcChargingParameters={"evMaxCurrent": 200, "evMaxVoltage": 450, "energyAmount": 30000},
    )  # fmt: skip
    got = record(run_call("NotifyEVChargingNeeds", payload, "ocpp2.1"))
    assert got.energy_amount_wh == energy


def test_2_1_timestamp_is_when_the_needs_were_received_not_when_they_arrived(run_call, now):
    payload = needs() | {"timestamp": "2026-01-15T16:00:00Z"}  # sent late, after offline
    got = record(run_call("NotifyEVChargingNeeds", payload, "ocpp2.1"))
    assert (got.ts, got.received_at) == (datetime(2026, 1, 15, 16, 0, tzinfo=UTC), now)


def test_2_1_per_phase_power_bounds_are_summed_and_kept_per_phase(run_call):
    v2x = {
        # L1 / L2 / L3: the plain member is L1 once _L2/_L3 are there (schema text).
        "maxChargePower": 3680, "maxChargePower_L2": 3680, "maxChargePower_L3": 3680,
        "maxDischargePower": 2300, "maxDischargePower_L2": 2000,  # two phases only
        "minChargePower": 1380,  # no phases: already the total
        "minChargeCurrent": 6, "maxChargeCurrent": 16, "minDischargeCurrent": 6,
        "maxDischargeCurrent": 10, "minVoltage": 207, "maxVoltage": 253,
        "evMinV2XEnergyRequest": -12000, "evMaxV2XEnergyRequest": 36000, "targetSoC": 80,
    }  # fmt: skip
    payload = needs(requestedEnergyTransfer="AC_BPT", v2xChargingParameters=v2x)
    got = record(run_call("NotifyEVChargingNeeds", payload, "ocpp2.1"))
    assert (got.max_charge_power_w, got.max_charge_power_per_phase_w) == (
        11040.0,  # 3 x 3680
        (3680.0, 3680.0, 3680.0),
    )
    assert (got.max_discharge_power_w, got.max_discharge_power_per_phase_w) == (
        4300.0,  # 2300 + 2000
        (2300.0, 2000.0),
    )
    assert (got.min_charge_power_w, got.min_charge_power_per_phase_w) == (1380.0, ())
    assert (got.min_discharge_power_w, got.min_discharge_power_per_phase_w) == (None, ())
    assert (got.min_charge_current_a, got.max_charge_current_a, got.min_discharge_current_a,
            got.max_discharge_current_a, got.min_voltage_v, got.max_voltage_v) == (
        6.0, 16.0, 6.0, 10.0, 207.0, 253.0
    )  # fmt: skip
    # Capital V2X on the wire (PROTOCOLS.md §4): both requests are read.
    assert (got.min_v2x_energy_wh, got.max_v2x_energy_wh, got.target_soc_pct) == (
        -12000.0,
        36000.0,
        80.0,
    )


def test_phase_total_of_a_bound_sent_only_as_a_total():
    assert phase_total({}, "maxChargePower") == (None, ())


def test_unreadable_departure_time_is_a_bad_value(run_call):
    payload = needs(departureTime="tomorrow-ish")
    rejected = run_call("NotifyEVChargingNeeds", payload, "ocpp2.0.1")
    assert isinstance(rejected, Rejected)
    assert (rejected.reason_code, rejected.detail) == (
        "bad_value",
        "chargingNeeds.departureTime: 'tomorrow-ish' is not an ISO 8601 date-time",
    )


def test_2_0_1_refuses_2_1_v2x_parameters_by_schema(run_call):
    payload = needs(v2xChargingParameters={"targetSoC": 80})
    rejected = run_call("NotifyEVChargingNeeds", payload, "ocpp2.0.1")
    assert rejected.reason_code == "schema_violation"
