"""OCPP 2.0.1 / 2.1 NotifyEVChargingNeeds -> one ``EVChargingNeeds`` record (pure).

Field meanings and units are PROTOCOLS.md §4 (from the ``ocpp`` package's schemas):
every number is already in W, Wh, A, V or %, so nothing is converted, only renamed.

- ``ts``: 2.1 ``timestamp`` (when the station received the needs; sent later when it
  was offline), else the receive time.
- AC and DC parameters share record fields (``energy_amount_wh``, ``ev_max_current_a``,
  ``ev_max_voltage_v``); a station sends the set of its transfer mode. When it sends both,
  the set matching ``requestedEnergyTransfer`` wins (DC for ``DC*``, AC otherwise).
- 2.1 ``v2xChargingParameters``: the four power bounds are totals. The schema says a
  plain member is the sum over the phases unless ``_L2`` / ``_L3`` members are given, in
  which case it is L1: the total is then L1 + L2 (+ L3), and the phases are kept in
  ``*_per_phase_w``. ``evMinV2XEnergyRequest`` / ``evMaxV2XEnergyRequest`` are spelled
  with a capital V2X on the wire.
- Not kept: 2.1 ``derChargingParameters`` and ``evEnergyOffer`` (inverter settings and the
  EV's own price/power schedule; no consumer yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connectors.ocpp.context import CallContext
from connectors.ocpp.timestamps import parse_timestamp
from gridstream.records import EVChargingNeeds

# (record field, wire member) of the 2.1 V2XChargingParametersType numbers taken as sent.
_V2X_NUMBERS: Final = (
    ("target_energy_wh", "evTargetEnergyRequest"),
    ("min_energy_wh", "evMinEnergyRequest"),
    ("max_energy_wh", "evMaxEnergyRequest"),
    ("min_v2x_energy_wh", "evMinV2XEnergyRequest"),
    ("max_v2x_energy_wh", "evMaxV2XEnergyRequest"),
    ("min_charge_current_a", "minChargeCurrent"),
    ("max_charge_current_a", "maxChargeCurrent"),
    ("min_discharge_current_a", "minDischargeCurrent"),
    ("max_discharge_current_a", "maxDischargeCurrent"),
    ("min_voltage_v", "minVoltage"),
    ("max_voltage_v", "maxVoltage"),
    ("target_soc_pct", "targetSoC"),
)

# (record field prefix, wire member) of the per-phase power bounds.
_V2X_POWERS: Final = (
    ("min_charge_power", "minChargePower"),
    ("max_charge_power", "maxChargePower"),
    ("min_discharge_power", "minDischargePower"),
    ("max_discharge_power", "maxDischargePower"),
)

# (record field, wire member) of AC / DC charging parameters.
_AC_NUMBERS: Final = (
    ("energy_amount_wh", "energyAmount"),
    ("ev_min_current_a", "evMinCurrent"),
    ("ev_max_current_a", "evMaxCurrent"),
    ("ev_max_voltage_v", "evMaxVoltage"),
)
_DC_NUMBERS: Final = (
    ("energy_amount_wh", "energyAmount"),
    ("ev_max_current_a", "evMaxCurrent"),
    ("ev_max_voltage_v", "evMaxVoltage"),
    ("ev_max_power_w", "evMaxPower"),
    ("ev_energy_capacity_wh", "evEnergyCapacity"),
    ("soc_pct", "stateOfCharge"),
    ("full_soc_pct", "fullSoC"),
    ("bulk_soc_pct", "bulkSoC"),
)


def phase_total(params: Mapping[str, Any], member: str) -> tuple[float | None, tuple[float, ...]]:
    """(total, per-phase values) of one V2X power bound, W.

    Without ``_L2`` / ``_L3`` the member is already the total and no phases are known.

    >>> phase_total({"maxChargePower": 3680}, "maxChargePower")
    (3680.0, ())
    >>> phase_total({"maxChargePower": 3680, "maxChargePower_L2": 3680,
    ...              "maxChargePower_L3": 3000}, "maxChargePower")
    (10360.0, (3680.0, 3680.0, 3000.0))
    """
    base = params.get(member)
    phases = [params.get(f"{member}_L2"), params.get(f"{member}_L3")]
    if all(p is None for p in phases):
        return (None if base is None else float(base)), ()
    # Per phase: the plain member is L1. A phase left out carries nothing (two-phase EVs).
    per_phase = tuple(float(p) for p in (base, *phases) if p is not None)
    return sum(per_phase), per_phase


def to_charging_needs(payload: Mapping[str, Any], ctx: CallContext) -> EVChargingNeeds:
    """The record of one schema-valid NotifyEVChargingNeeds (2.0.1 or 2.1) payload.

    Raises ``InvalidPayload`` (``bad_value``) for an unreadable departure time or timestamp.
    """
    needs = payload["chargingNeeds"]
    transfer: str = needs["requestedEnergyTransfer"]
    fields: dict[str, Any] = {}
    ac, dc = needs.get("acChargingParameters"), needs.get("dcChargingParameters")
    # Both sent: the set of the requested mode wins, so apply the other one first.
    ordered = [(ac, _AC_NUMBERS), (dc, _DC_NUMBERS)]
    if not transfer.startswith("DC"):
        ordered.reverse()
    for params, names in ordered:
        if params is not None:
            fields.update(_numbers(params, names))
    v2x = needs.get("v2xChargingParameters")
    if v2x is not None:
        fields.update(_numbers(v2x, _V2X_NUMBERS))
        for prefix, member in _V2X_POWERS:
            total, per_phase = phase_total(v2x, member)
            fields[f"{prefix}_w"] = total
            fields[f"{prefix}_per_phase_w"] = per_phase
    departure = needs.get("departureTime")
    stamped = payload.get("timestamp")  # 2.1 only
    return EVChargingNeeds(
        ts=ctx.now if stamped is None else parse_timestamp(stamped, "timestamp"),
        station_id=ctx.station_id,
        site_id=ctx.site_id,
        evse_id=payload["evseId"],
        source=ctx.source,
        received_at=ctx.now,
        message_id=ctx.message_id,
        requested_energy_transfer=transfer,
        available_energy_transfer=tuple(needs.get("availableEnergyTransfer", ())),
        control_mode=needs.get("controlMode"),
        mobility_needs_mode=needs.get("mobilityNeedsMode"),
        departure_time=(
            None if departure is None else parse_timestamp(departure, "chargingNeeds.departureTime")
        ),
        max_schedule_tuples=payload.get("maxScheduleTuples"),
        **fields,
    )


def _numbers(params: Mapping[str, Any], names: tuple[tuple[str, str], ...]) -> dict[str, float]:
    return {field: float(params[member]) for field, member in names if member in params}
