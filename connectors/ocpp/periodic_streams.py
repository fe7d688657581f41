"""OCPP 2.1 periodic event streams -> meter readings (pure; memory in ``StreamMonitors``).

How a station streams (PROTOCOLS.md §3): the CSMS (or the station's own configuration)
sets a variable monitor; NotifyMonitoringReport tells which component and variable each
monitor watches; OpenPeriodicEventStream opens stream ``id`` for monitor
``variableMonitoringId``; then the station sends, as SEND frames that are never answered,
``[6, id, "NotifyPeriodicEventStream", {id, pending, basetime, data: [{t, v}]}]``, each
``v`` (a string) measured at ``basetime`` + ``t`` seconds. ClosePeriodicEventStream ends it.

What ``v`` measures is known only through the monitor's variable. Well-known variable
names map to a measurand and unit (``VARIABLE_MEASURANDS``): ``ACCurrent``, ``DCCurrent``,
``ACVoltage``, ``DCVoltage`` and ``Power`` are standardized variables of the OCPP 2.x device
model (Part 2 appendices, standardized components and variables; ``Power`` of EVSE and
ChargingStation is in W); ``Current``, ``Voltage``, ``Frequency``, ``SoC`` and
``StateOfCharge`` are the plain names stations also use. Names are case-insensitive (the
device model says so).

Nothing is lost when the variable is not known: a value whose stream or monitor this
connector was never told about (or whose variable is not in the table) still becomes a
reading, with measurand ``PeriodicEventStream.<variableMonitoringId>`` (or
``PeriodicEventStream.stream-<id>`` when even the stream is unknown) and unit ``""``.
Consumers skip readings with unit ``""`` (they are not measurements in a known unit); the
station, time and raw number are kept for whoever learns later what the monitor was.

The readings of one SEND become one ``MeterSample`` per distinct instant, context
``Sample.Periodic``, EVSE and connector from the monitor's component (None when unknown),
location ``EV`` when the component is ``ConnectedEV`` (else none), phase from a variable
instance that names one (``L1``, ``L2-N``, ...). A ``v`` that is not a decimal number
rejects the whole SEND (``bad_value``): it goes to the dead-letter topic, raw.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from connectors.ocpp.context import CallContext, InvalidPayload
from connectors.ocpp.sessions import Monitor, Stream, StreamMonitors
from connectors.ocpp.timestamps import parse_timestamp
from gridstream.records import MeterSample, Reading
from gridstream.units import to_canonical

VARIABLE_MEASURANDS: Final[Mapping[str, tuple[str, str]]] = {
    "power": ("Power.Active.Import", "W"),
    "accurrent": ("Current.Import", "A"),
    "dccurrent": ("Current.Import", "A"),
    "current": ("Current.Import", "A"),
    "acvoltage": ("Voltage", "V"),
    "dcvoltage": ("Voltage", "V"),
    "voltage": ("Voltage", "V"),
    "frequency": ("Frequency", "Hz"),
    "soc": ("SoC", "Percent"),
    "stateofcharge": ("SoC", "Percent"),
}
"""Lower-cased variable name -> (OCPP measurand, OCPP unit) of the stream's values."""

#: Measurand prefix of values whose variable is not known; their unit is "".
UNKNOWN_PREFIX: Final = "PeriodicEventStream."
#: Reading context of streamed values.
STREAM_CONTEXT: Final = "Sample.Periodic"

_PHASES: Final = frozenset(
    {"L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"}
)
# Same rule as 1.6 sampled values (connectors.ocpp.meter_values): a plain decimal only.
_DECIMAL: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def learn_monitors(payload: Mapping[str, Any], memory: StreamMonitors) -> None:
    """Remember, from a NotifyMonitoringReport payload, what each monitor id watches."""
    for entry in payload.get("monitor", ()):
        component, variable = entry["component"], entry["variable"]
        evse = component.get("evse", {})
        monitor = Monitor(
            component=component["name"],
            variable=variable["name"],
            evse_id=evse.get("id"),
            connector_id=evse.get("connectorId"),
            component_instance=component.get("instance"),
            variable_instance=variable.get("instance"),
        )
        for setting in entry["variableMonitoring"]:
            memory.note_monitor(setting["id"], monitor)


def open_stream(payload: Mapping[str, Any], memory: StreamMonitors) -> None:
    """Remember the stream an OpenPeriodicEventStream payload opens."""
    data = payload["constantStreamData"]
    params = data["params"]
    stream = Stream(data["variableMonitoringId"], params.get("interval"), params.get("values"))
    memory.open_stream(data["id"], stream)


def close_stream(payload: Mapping[str, Any], memory: StreamMonitors) -> None:
    """Forget the stream a ClosePeriodicEventStream payload closes."""
    memory.close_stream(payload["id"])


def stream_samples(payload: Mapping[str, Any], ctx: CallContext) -> list[MeterSample]:
    """The meter samples of one schema-valid NotifyPeriodicEventStream payload.

    Raises ``InvalidPayload`` (``bad_value``) for an unreadable ``basetime``, an offset that
    is not finite or a value that is not a decimal number.
    """
    memory = ctx.station.monitors
    stream_id: int = payload["id"]
    stream = memory.stream(stream_id)
    monitor = memory.monitor(stream.variable_monitoring_id) if stream is not None else None
    measurand, unit = _measurand(stream_id, stream, monitor)
    basetime = parse_timestamp(payload["basetime"], "basetime")
    by_ts: dict[datetime, list[Reading]] = {}
    for i, point in enumerate(payload["data"]):
        where = f"data[{i}]"
        ts = _instant(basetime, point["t"], where)
        value, canonical = to_canonical(_number(point["v"], where), unit)
        reading = Reading(
            measurand=measurand,
            value=value,
            unit=canonical,
            phase=_phase(monitor),
            location="EV" if monitor is not None and monitor.component == "ConnectedEV" else None,
            context=STREAM_CONTEXT,
        )
        by_ts.setdefault(ts, []).append(reading)
    return [
        MeterSample(
            ts=ts,
            station_id=ctx.station_id,
            site_id=ctx.site_id,
            evse_id=monitor.evse_id if monitor is not None else None,
            connector_id=monitor.connector_id if monitor is not None else None,
            source=ctx.source,
            message_id=ctx.message_id,
            received_at=ctx.now,
            readings=tuple(readings),
        )
        for ts, readings in by_ts.items()
    ]


def _measurand(stream_id: int, stream: Stream | None, monitor: Monitor | None) -> tuple[str, str]:
    if stream is None:
        return f"{UNKNOWN_PREFIX}stream-{stream_id}", ""
    if monitor is not None:
        known = VARIABLE_MEASURANDS.get(monitor.variable.lower())
        if known is not None:
            return known
    return f"{UNKNOWN_PREFIX}{stream.variable_monitoring_id}", ""


def _phase(monitor: Monitor | None) -> str | None:
    if monitor is None or monitor.variable_instance is None:
        return None
    instance = monitor.variable_instance.upper()
    return instance if instance in _PHASES else None


def _instant(basetime: datetime, offset_s: float, where: str) -> datetime:
    if not math.isfinite(offset_s):
        raise InvalidPayload("bad_value", f"{where}.t: {offset_s!r} is not a finite number")
    try:
        return basetime + timedelta(seconds=offset_s)
    except OverflowError:
        raise InvalidPayload("bad_value", f"{where}.t: {offset_s!r} s is out of range") from None


def _number(text: str, where: str) -> float:
    if _DECIMAL.fullmatch(text) is None:
        raise InvalidPayload("bad_value", f"{where}.v: {text!r} is not a decimal number")
    value = float(Decimal(text))
    if not math.isfinite(value):  # 1e400
        raise InvalidPayload("bad_value", f"{where}.v: {text!r} is not a finite number")
    return value
