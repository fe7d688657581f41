"""OCPP sampled values -> canonical ``Reading``s, grouped per instant into ``MeterSample``s.

Pure: no I/O, no clock (the receive time comes in through ``CallContext.now``).

Rules (PROTOCOLS.md §2, §3, §7; DOMAIN.md, Meter values):

- Defaults when a field is absent: measurand ``Energy.Active.Import.Register``, context
  ``Sample.Periodic``, location ``Outlet`` (1.6 also format ``Raw``).
- Unit when absent: ``gridstream.units.default_unit(measurand)``. For energy measurands that
  is Wh, which is what both 1.6 and the 2.x ``unitOfMeasure.unit`` default say; for other
  measurands it is their natural unit (V for Voltage, ...): the 2.x schema default "Wh" for a
  Voltage reading would be nonsense, and a station omitting the unit means the natural one.
- 2.x ``unitOfMeasure.multiplier`` (default 0) and a k-prefixed unit both apply
  (``kWh`` x 10^-3 occurs); the arithmetic lives in ``gridstream.units.to_canonical`` only.
- 1.6 ``value`` is a string parsed as a plain decimal number; 2.x ``value`` is a JSON
  number. Empty, non-numeric or non-finite values reject the message (``bad_value``), and a
  unit ``gridstream.units`` does not know rejects it as ``unknown_unit``.
- Every reading is kept, totals and phases, all contexts, in the order sent: consumers key
  them by (measurand, phase, location, context) and decide what to add up. That includes
  ``Energy.Active.*.Interval`` energy, which the quarter-hour computation uses where a
  meter reports no register (``gridstream.registers``).

Sample times (``connectors.ocpp.timestamps.station_times``): a station's clock far ahead
of the receive time, or never set (before 2015), is replaced, the message's newest such
entry taking the receive time and the others keeping their spacing before it; the sample's
``station_ts`` keeps what the station said. Past times are kept as sent, however old
(offline batches). An empty ``timestamp`` (``""``: the schemas require the member, and the
``ocpp`` package's validator does not check its format) is repaired with the receive time
rather than rejected: a station sends a sample when it takes it, and a CALLERROR would make
it drop or endlessly retry readings whose energy is otherwise good. Only one entry per
message may be empty: several could not be put in order, and merging them into one instant
would lose interval energy, so that message is rejected (``bad_value``). Any other
unreadable timestamp is a ``bad_value`` too: garbled text says the payload is broken.

Signed meter data is kept raw in ``Reading.signed_data`` for audit, never decoded here:

- 2.x ``signedMeterValue.signedMeterData`` sits on a reading that also has its number.
- A 1.6 sampled value with ``format`` ``SignedData`` has no number (its ``value`` is the
  signed block). It is attached to the Raw reading with the same (measurand, phase,
  location, context) in the same list when there is one, which gives the 2.x shape. When
  there is none, it becomes a reading with ``unit`` ``""`` and ``value`` 0.0 carrying only
  ``signed_data``: ``Reading.value`` cannot be empty, and the empty unit marks that the
  number is not a measurement. Consumers must skip readings with ``signed_data`` set and
  ``unit == ""``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from connectors.ocpp.context import CallContext, InvalidPayload
from connectors.ocpp.timestamps import parse_timestamp, station_times
from gridstream.records import CanonicalUnit, MeterSample, Reading
from gridstream.units import UnknownUnitError, default_unit, to_canonical

DEFAULT_MEASURAND: Final = "Energy.Active.Import.Register"
DEFAULT_CONTEXT: Final = "Sample.Periodic"
DEFAULT_LOCATION: Final = "Outlet"

# A plain decimal: what a meter prints. Decimal() alone would also take "NaN", "Infinity",
# "1_000" and surrounding blanks, none of which is a reading.
_DECIMAL: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

TimedReadings = tuple[datetime | None, list[Reading]]
"""The readings of one ``meterValue`` entry and its timestamp (aware UTC; None: empty)."""


def _canonical(value: float, unit: str, multiplier: int, where: str) -> tuple[float, CanonicalUnit]:
    if not math.isfinite(value):
        raise InvalidPayload("bad_value", f"{where}.value: {value!r} is not a finite number")
    try:
        return to_canonical(value, unit, multiplier)
    except UnknownUnitError:
        raise InvalidPayload("unknown_unit", f"{where}: unit {unit!r} is not known") from None


def reading_v16(sampled: Mapping[str, Any], where: str) -> Reading:
    """One OCPP 1.6 ``SampledValue`` as a canonical ``Reading``.

    ``where`` is the field path used in rejection details (``meterValue[0].sampledValue[1]``).
    A ``SignedData`` value is returned with ``unit`` ``""``, ``value`` None and the raw value
    in ``signed_data`` (``readings_v16`` attaches it to its Raw sibling where there is one).
    """
    measurand = sampled.get("measurand", DEFAULT_MEASURAND)
    context = sampled.get("context", DEFAULT_CONTEXT)
    location = sampled.get("location", DEFAULT_LOCATION)
    phase = sampled.get("phase")
    text = sampled.get("value")
    if sampled.get("format") == "SignedData":
        return Reading(
            measurand=measurand,
            value=None,
            unit="",
            phase=phase,
            location=location,
            context=context,
            signed_data=str(text),
        )
    if not isinstance(text, str) or _DECIMAL.fullmatch(text) is None:
        raise InvalidPayload("bad_value", f"{where}.value: {text!r} is not a decimal number")
    unit = sampled.get("unit") or default_unit(measurand)
    value, canonical = _canonical(float(Decimal(text)), unit, 0, where)
    return Reading(
        measurand=measurand,
        value=value,
        unit=canonical,
        phase=phase,
        location=location,
        context=context,
    )


def reading_v2(sampled: Mapping[str, Any], where: str) -> Reading:
    """One OCPP 2.0.1 / 2.1 ``SampledValueType`` as a canonical ``Reading``.

    Applies ``unitOfMeasure`` {unit, multiplier}; keeps ``signedMeterValue.signedMeterData``.
    """
    measurand = sampled.get("measurand", DEFAULT_MEASURAND)
    raw_value = sampled.get("value")
    # bool is an int in Python but never a JSON number (the schema rejects it as well).
    if isinstance(raw_value, bool) or not isinstance(raw_value, int | float):
        raise InvalidPayload("bad_value", f"{where}.value: {raw_value!r} is not a number")
    unit_of_measure = sampled.get("unitOfMeasure", {})
    unit = unit_of_measure["unit"] if "unit" in unit_of_measure else default_unit(measurand)
    multiplier = unit_of_measure.get("multiplier", 0)
    value, canonical = _canonical(float(raw_value), unit, multiplier, where)
    signed = sampled.get("signedMeterValue")
    return Reading(
        measurand=measurand,
        value=value,
        unit=canonical,
        phase=sampled.get("phase"),
        location=sampled.get("location", DEFAULT_LOCATION),
        context=sampled.get("context", DEFAULT_CONTEXT),
        signed_data=signed.get("signedMeterData") if signed is not None else None,
    )


def _key(reading: Reading) -> tuple[str, str | None, str | None, str | None]:
    return (reading.measurand, reading.phase, reading.location, reading.context)


Dropped = list[tuple[str, str, Mapping[str, Any]]]
"""Sampled values that could not be read: (reason, detail, the sampled value as sent)."""


def _readable(
    read: Callable[[Mapping[str, Any], str], Reading],
    sampled_values: Sequence[Mapping[str, Any]],
    where: str,
    dropped: Dropped | None,
) -> list[Reading]:
    """Each sampled value read; one that cannot be goes to ``dropped`` (None: raise)."""
    out: list[Reading] = []
    for i, sv in enumerate(sampled_values):
        try:
            out.append(read(sv, f"{where}.sampledValue[{i}]"))
        except InvalidPayload as exc:
            if dropped is None:
                raise
            dropped.append((exc.reason, exc.detail, sv))
    return out


def readings_v16(
    sampled_values: Sequence[Mapping[str, Any]], where: str, dropped: Dropped | None = None
) -> list[Reading]:
    """All 1.6 sampled values of one ``meterValue``, SignedData attached to Raw siblings.

    A value that cannot be read raises ``InvalidPayload``, or with ``dropped`` given is
    left out and listed there (one bad value costs only that reading).
    """
    readings = _readable(reading_v16, sampled_values, where, dropped)
    signed = [i for i, r in enumerate(readings) if r.unit == "" and r.signed_data is not None]
    merged: set[int] = set()
    for i in signed:
        for j, raw in enumerate(readings):
            if j in signed or raw.signed_data is not None or _key(raw) != _key(readings[i]):
                continue
            readings[j] = raw.model_copy(update={"signed_data": readings[i].signed_data})
            merged.add(i)
            break
    return [r for i, r in enumerate(readings) if i not in merged]


def readings_v2(
    sampled_values: Sequence[Mapping[str, Any]], where: str, dropped: Dropped | None = None
) -> list[Reading]:
    """All 2.x sampled values of one ``meterValue``, in the order sent (``dropped``: as 1.6)."""
    return _readable(reading_v2, sampled_values, where, dropped)


def timed_readings(
    meter_values: Sequence[Mapping[str, Any]],
    source: str,
    field: str = "meterValue",
    dropped: Dropped | None = None,
) -> list[TimedReadings]:
    """Each ``MeterValue`` entry as (UTC timestamp, readings), in the order sent.

    ``source`` picks the 1.6 or 2.x sampled-value rules; ``field`` names the list in
    rejection details (1.6 StopTransaction calls it ``transactionData``). An empty
    timestamp gives None (``to_samples`` repairs it); a second empty one in the message is a
    ``bad_value`` (see the module docstring). ``dropped``: where unreadable sampled values
    go, each alone (None: the first one raises).
    """
    readings_of = readings_v16 if source == "ocpp1.6" else readings_v2
    out: list[TimedReadings] = []
    empty: str | None = None  # the path of the first empty timestamp
    for i, entry in enumerate(meter_values):
        where = f"{field}[{i}]"
        text = entry.get("timestamp")
        ts: datetime | None
        if isinstance(text, str) and not text.strip():
            if empty is not None:
                raise InvalidPayload(
                    "bad_value",
                    f"{where}.timestamp: empty, as {empty} is: entries without a time "
                    "cannot be put in order",
                )
            empty = f"{where}.timestamp"
            ts = None
        else:
            ts = parse_timestamp(text, f"{where}.timestamp")
        out.append((ts, readings_of(entry.get("sampledValue", []), where, dropped)))
    return out


def to_samples(
    timed: Sequence[TimedReadings],
    ctx: CallContext,
    *,
    evse_id: int | None,
    connector_id: int | None,
    transaction_id: str | None,
) -> list[MeterSample]:
    """One ``MeterSample`` per distinct timestamp, readings of equal timestamps merged.

    Samples come in order of first appearance; ``received_at`` is ``ctx.now``. Timestamps
    the station's clock got wrong, and empty ones, are repaired by ``station_times`` (the
    sample's ``station_ts`` says what the station sent); a repaired entry is merged only
    with entries the station gave the same time. Entries without readings produce nothing
    (a sample needs at least one reading).
    """
    times = station_times([ts for ts, _ in timed], ctx.now)
    by_ts: dict[tuple[datetime, str | None], list[Reading]] = {}
    for (ts, said), (_, readings) in zip(times, timed, strict=True):
        by_ts.setdefault((ts, said), []).extend(readings)
    return [
        MeterSample(
            ts=ts,
            station_id=ctx.station_id,
            site_id=ctx.site_id,
            evse_id=evse_id,
            connector_id=connector_id,
            transaction_id=transaction_id,
            source=ctx.source,
            message_id=ctx.message_id,
            received_at=ctx.now,
            readings=tuple(readings),
            station_ts=said,
        )
        for (ts, said), readings in by_ts.items()
        if readings
    ]


def register_reading(wh: int | float, context: str) -> Reading:
    """The import register at ``wh`` Wh, at the Outlet (1.6 meterStart / meterStop).

    Outlet because that is where a sampled value without location is, so the energy path
    sees the start/stop register under the same key as the periodic ones.
    """
    value, unit = to_canonical(float(wh), "Wh")
    return Reading(
        measurand=DEFAULT_MEASURAND,
        value=value,
        unit=unit,
        location=DEFAULT_LOCATION,
        context=context,
    )
