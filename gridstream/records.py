"""Canonical records: the values on gridstream's Kafka topics.

Every record is a frozen pydantic model in SI units (W, Wh, var, varh, VA, VAh, V, A, Hz,
%, K, s) with aware UTC timestamps and stable ids. Connectors build them at the edge, once
(STYLE.md rule 5); nothing further in sees protocol field names, kW or multipliers.

Records are data only: no I/O, no clock. They serialise to JSON with ``to_json`` and back
with ``from_json``; the Parquet schema of each topic is derived from these models.

One meter sample carries all readings a station sent for one instant, never one record
per reading: Faust's fixed cost per record is then shared by all of them (DESIGN.md, Scale).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gridstream.errors import REASONS


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (naive datetimes are ambiguous)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""An aware datetime, normalised to UTC on validation."""

CanonicalUnit = Literal["W", "Wh", "var", "varh", "VA", "VAh", "V", "A", "Hz", "%", "K", "s", ""]
"""Units after normalisation (``gridstream.units``). ``""`` is dimensionless (power factor)."""

Source = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1", "ocpi2.2.1", "ocpi3.0", "grid", "simulator"]


class Record(BaseModel):
    """Base of every canonical record: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Version of the record's shape; bump it when a field changes meaning.
    schema_version: ClassVar[int] = 1

    def to_json(self) -> bytes:
        """Serialise to the JSON bytes that go on the topic."""
        return self.model_dump_json(exclude_none=False).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """Parse JSON bytes from the topic."""
        return cls.model_validate_json(data)


class Reading(Record):
    """One measured value of a meter sample, in a canonical unit.

    ``phase`` None means the total over all phases; a reading with a phase is a part of it
    (DOMAIN.md, Meter values). ``context`` is the OCPP reading context (Sample.Periodic,
    Transaction.Begin, ...), kept because one sample may hold the same register twice with
    different contexts.
    """

    measurand: str
    #: None only for signed data that carries no plain number (OCPP 1.6 SignedData alone).
    value: float | None
    unit: CanonicalUnit
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    #: Signed meter data exactly as received (hex in 1.6, base64 in 2.x), for audit.
    signed_data: str | None = None

    @model_validator(mode="after")
    def _number_or_signed_data(self) -> Reading:
        if self.value is None and self.signed_data is None:
            raise ValueError("a reading needs a value, or signed data when it has none")
        return self


class MeterSample(Record):
    """All readings one station/EVSE sent for one instant ``ts``."""

    ts: UtcDatetime
    station_id: str
    site_id: str
    #: 0 is the station's main meter; None when the protocol does not say.
    evse_id: int | None = None
    connector_id: int | None = None
    transaction_id: str | None = None
    source: Source
    #: Id of the protocol message this came from (OCPP message id), for tracing.
    message_id: str | None = None
    received_at: UtcDatetime
    readings: tuple[Reading, ...] = Field(min_length=1)


TransactionEventType = Literal["started", "updated", "ended"]


class TransactionEvent(Record):
    """A step in a charging session's lifecycle (OCPP 1.6 Start/Stop, 2.x TransactionEvent)."""

    ts: UtcDatetime
    station_id: str
    site_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    transaction_id: str
    event_type: TransactionEventType
    source: Source
    message_id: str | None = None
    received_at: UtcDatetime
    seq_no: int | None = None
    trigger_reason: str | None = None
    charging_state: str | None = None
    operation_mode: str | None = None
    stopped_reason: str | None = None
    offline: bool = False
    number_of_phases_used: int | None = None
    #: Import register at this event (1.6 meterStart / meterStop), Wh.
    meter_wh: float | None = None
    #: Pseudonymised id token (never the token in clear).
    id_token_hash: str | None = None


class EVChargingNeeds(Record):
    """What an EV asked for (OCPP NotifyEVChargingNeeds; ISO 15118 via the station)."""

    ts: UtcDatetime
    station_id: str
    site_id: str
    evse_id: int
    source: Source
    received_at: UtcDatetime
    requested_energy_transfer: str
    departure_time: UtcDatetime | None = None
    target_energy_wh: float | None = None
    min_energy_wh: float | None = None
    max_energy_wh: float | None = None
    min_v2x_energy_wh: float | None = None
    max_v2x_energy_wh: float | None = None
    min_charge_power_w: float | None = None
    max_charge_power_w: float | None = None
    min_discharge_power_w: float | None = None
    max_discharge_power_w: float | None = None
    target_soc_pct: float | None = None


GridSignalKind = Literal[
    "capacity_limit", "price", "frequency", "voltage", "regulation_state", "prognosis"
]


class GridSignal(Record):
    """A DSO/TSO signal for a scope (site, congestion area, bidding zone) and period.

    ``[valid_from, valid_to)`` is half-open; an instantaneous measurement has both equal to
    ``ts``-based bounds chosen by the connector.
    """

    ts: UtcDatetime
    scope: str
    kind: GridSignalKind
    value: float
    unit: str
    valid_from: UtcDatetime
    valid_to: UtcDatetime
    source: str
    received_at: UtcDatetime


class SiteAssignment(Record):
    """Registry entry: a station belongs to a site (grid connection)."""

    station_id: str
    site_id: str
    ean: str | None = None
    congestion_area: str | None = None
    brp: str | None = None
    contracted_capacity_w: float | None = None
    timezone: str = "Europe/Brussels"
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None


class QuarterHourLoad(Record):
    """A site's energy and average power over one settlement period ``[interval_start, +15 min)``.

    Emitted again with ``revision + 1`` when late data changes it; consumers keep the
    latest revision per (site_id, interval_start).
    """

    site_id: str
    interval_start: UtcDatetime
    import_wh: float
    export_wh: float
    avg_import_w: float
    avg_export_w: float
    #: Number of meters (station, EVSE) that contributed.
    meters: int
    #: Share of the interval covered by readings no further apart than the max gap, 0..1.
    completeness: float
    estimated: bool
    revision: int
    computed_by: str
    as_of: UtcDatetime


class Peak(Record):
    """A site's running monthly quarter-hour peak (highest average import power).

    ``month`` is ``YYYY-MM`` in the site's time zone; ``interval_start`` is the
    quarter-hour that set the peak.
    """

    site_id: str
    month: str
    peak_w: float
    interval_start: UtcDatetime
    revision: int
    computed_by: str
    as_of: UtcDatetime


def _known_reason(code: str) -> str:
    if code not in REASONS:
        raise ValueError(f"unknown reason {code!r}; known: {', '.join(REASONS)}")
    return code


class DeadLetter(Record):
    """Something gridstream could not accept, kept raw with the reason.

    ``reason`` is a code of the one rejection catalogue, ``gridstream.errors.REASONS``.
    """

    source: str
    reason: Annotated[str, AfterValidator(_known_reason)]
    detail: str
    raw: str
    received_at: UtcDatetime
    station_id: str | None = None
    message_id: str | None = None
