"""OCPI 3.0 draft MeterSamples (Power Regulation module) -> canonical ``MeterSample``.

No public 3.0 text exists (PROTOCOLS.md §6); two shapes of MeterReading circulate and both
are read (DOMAIN.md, Protocols):

- the public implementation's: measurand CURRENT, POWER, FREQUENCY, SOC; unit A, W, Hz,
  PERCENT; ``component_level`` EV, EVSE, GROUP; ``location`` INLET, OUTLET;
- the SCALE analysis's: OCPP-style measurands (``Energy.Active.Import.Register``,
  ``Power.Active.Import``, ``Voltage``, ``Current``, ``Frequency``, ...) and units (Wh, kWh,
  varh, W, kW, V, A, Hz); ``phase`` L1/L2/L3/N or null.

Mapped onto the canonical reading: POWER -> ``Power.Active.Import`` (negative: export,
``Power.Active.Export`` by its magnitude), CURRENT and ``Current`` -> ``Current.Import``
(negative: ``Current.Export``), FREQUENCY -> ``Frequency``, SOC -> ``SoC``; values to SI
units by ``gridstream.units``. The component level goes into the reading's location, in
OCPP's words where there is one: EVSE INLET/OUTLET -> ``Inlet``/``Outlet``, EV -> ``EV``,
GROUP -> ``Group.Inlet``/``Group.Outlet`` (a group is not this EVSE's meter: never add
it to the EVSE's readings). The EVSE is ``evse_id`` (an EVSE uid in that implementation),
else the EVSE of the session ``session_id`` names. ``charging_profile_id`` (the profile the
station says these readings were taken under) is kept on the sample as sent, for the
compliance check to hold against the profile gridstream has for the session
(``streams.compute.compliance``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from connectors.ocpi.sessions import Context, station_id
from connectors.ocpi.wire import (
    Accepted,
    PartyRef,
    Rejected,
    Result,
    WireError,
    number,
    objects,
    optional_string,
    parse_datetime,
    string,
)
from gridstream.records import MeterSample, Reading
from gridstream.units import UnknownUnitError, to_canonical

#: Measurand -> (when >= 0, when < 0 or None to keep the sign).
_MEASURANDS: Final[dict[str, tuple[str, str | None]]] = {
    "POWER": ("Power.Active.Import", "Power.Active.Export"),
    "CURRENT": ("Current.Import", "Current.Export"),
    "Current": ("Current.Import", "Current.Export"),
    "FREQUENCY": ("Frequency", None),
    "SOC": ("SoC", None),
}
_LOCATIONS: Final = {"INLET": "Inlet", "OUTLET": "Outlet"}
_PHASES: Final = frozenset(
    {"L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"}
)


def _reading(raw: Mapping[str, Any], where: str) -> Reading:
    measurand = string(raw, "measurand", where)
    value = number(raw.get("value"), f"{where}.value")
    unit = string(raw, "unit", where)
    positive, negative = _MEASURANDS.get(measurand, (measurand, None))
    if negative is not None and value < 0:
        positive, value = negative, -value
    try:
        canonical, canonical_unit = to_canonical(value, unit)
    except UnknownUnitError as exc:
        raise WireError(f"{where}.unit: {exc}") from None
    level = optional_string(raw, "component_level", where) or "EVSE"
    side = optional_string(raw, "location", where)
    if level == "EV":
        location: str | None = "EV"
    elif level == "GROUP":
        location = f"Group.{_LOCATIONS.get(side or '', side or 'Inlet')}"
    else:
        location = _LOCATIONS.get(side or "", side)
    phase = raw.get("phase")
    if phase is not None and (not isinstance(phase, str) or phase not in _PHASES):
        raise WireError(f"{where}.phase: {phase!r} is not one of {', '.join(sorted(_PHASES))}")
    return Reading(
        measurand=positive,
        value=canonical,
        unit=canonical_unit,
        phase=phase,
        location=location,
        context="Sample.Periodic",
    )


def read_meter_sample(
    body: Mapping[str, Any],
    party: PartyRef,
    ctx: Context,
    evse_of_session: Callable[[str], str | None],
) -> Result:
    """One MeterSample object -> ``Accepted((MeterSample,))`` or ``Rejected``.

    ``evse_of_session`` gives the EVSE uid of a session the receiver holds (or None).
    """
    try:
        ts = parse_datetime(body.get("timestamp"), "meter_sample.timestamp")
        session = optional_string(body, "session_id", "meter_sample")
        evse = optional_string(body, "evse_id", "meter_sample")
        profile_id = optional_string(body, "charging_profile_id", "meter_sample")
        if profile_id == "":
            raise WireError("meter_sample.charging_profile_id: empty; leave it out instead")
        if evse is None and session is not None:
            evse = evse_of_session(session)
        if evse is None:
            return Rejected(
                "bad_value", "meter_sample: no evse_id, and no session known by its session_id"
            )
        raws = objects(body.get("readings"), "meter_sample.readings")
        if not raws:
            raise WireError("meter_sample.readings: at least one reading is required")
        readings = tuple(_reading(r, f"meter_sample.readings[{k}]") for k, r in enumerate(raws))
    except WireError as exc:
        reason = "unknown_unit" if ".unit:" in str(exc) else "schema_violation"
        return Rejected(reason, str(exc))
    station = station_id(party, evse)
    return Accepted(
        (
            MeterSample(
                ts=ts,
                station_id=station,
                site_id=ctx.site_of(station),
                transaction_id=session,
                source="ocpi3.0",
                message_id=ctx.request_id,
                received_at=ctx.received_at,
                readings=readings,
                charging_profile_id=profile_id,
            ),
        )
    )
