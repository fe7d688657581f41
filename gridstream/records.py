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

Source = Literal[
    "ocpp1.6",
    "ocpp2.0.1",
    "ocpp2.1",
    "ocpi2.2.1",
    "ocpi2.3.0",
    "ocpi3.0",
    "grid",
    "tomp",
    "backfill",
    "simulator",
]


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
    """All readings one station/EVSE sent for one instant ``ts``.

    ``ts`` is the station's own time, unless the connector had to repair it (a clock unset
    or far ahead of the receive time, an empty timestamp; ``connectors.ocpp.meter_values``):
    then ``station_ts`` keeps what the station said, for audit. ``charging_profile_id`` is the
    charging profile the station says the readings were taken under (OCPI 3.0 draft
    MeterSamples carry it; OCPP does not).
    """

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
    #: The station's timestamp when ``ts`` is not it: its instant in ISO 8601 UTC, or ``""``
    #: for an empty one. None: ``ts`` is the station's own time.
    station_ts: str | None = None
    #: The charging profile the station says these readings were taken under (OCPI 3.0
    #: draft MeterSample ``charging_profile_id``, as sent); None when it does not say.
    charging_profile_id: str | None = None


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
    #: OCPP 2.x: how many seqNos of this transaction between the lowest the connector knew
    #: and ``seq_no`` had not arrived when this event did (0: none missing). None: not known
    #: (1.6; or the first event the connector saw of it, unless that was the Started one).
    #: Late offline events can fill a gap afterwards: the warehouse view
    #: ``transaction_seq_gaps`` shows what is still missing.
    seq_gap: int | None = None
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
    #: The station's event time when ``ts`` is not it (a clock far ahead or unset, as for
    #: ``MeterSample.station_ts``). None: ``ts`` is the station's own time.
    station_ts: str | None = None


class EVChargingNeeds(Record):
    """What an EV asked for (OCPP NotifyEVChargingNeeds; ISO 15118 via the station).

    ``ts`` is when the station received the needs from the EV (OCPP 2.1 ``timestamp``, for
    needs delivered late), else the receive time. Powers in W, energies in Wh, currents in
    A, voltages in V, states of charge in %; None (or ``()``) where the EV did not say.

    Energy requests (ISO 15118-20, via 2.1 ``v2xChargingParameters``) are the Wh still to
    transfer to reach a state of charge: ``target_energy_wh`` the requested one,
    ``min_energy_wh`` / ``max_energy_wh`` the minimum / maximum, ``min_v2x_energy_wh`` /
    ``max_v2x_energy_wh`` the bounds of the range the EV allows for V2X cycling (negative:
    above it, energy may be discharged). ``energy_amount_wh`` is the AC/DC parameters'
    ``energyAmount`` (2.0.1 and 2.1). The four power bounds are totals over the phases: when
    the station sends them per phase (``_L2`` / ``_L3`` members), the plain member is L1,
    the total is the sum and ``*_per_phase_w`` holds (L1, L2[, L3]).
    """

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
    #: Id of the protocol message this came from, for tracing.
    message_id: str | None = None
    #: Transfer modes the EV supports besides the requested one (2.1), as sent.
    available_energy_transfer: tuple[str, ...] = ()
    #: 2.1 ScheduledControl or DynamicControl; None means ScheduledControl (the default).
    control_mode: str | None = None
    #: 2.1 EVCC (only the EV sets target SoC and departure) or EVCC_SECC (station may too).
    mobility_needs_mode: str | None = None
    #: How many schedule periods the EV accepts in a charging profile.
    max_schedule_tuples: int | None = None
    #: AC or DC ``energyAmount``: the energy the EV asks for, Wh.
    energy_amount_wh: float | None = None
    ev_min_current_a: float | None = None
    ev_max_current_a: float | None = None
    ev_max_voltage_v: float | None = None
    ev_max_power_w: float | None = None
    ev_energy_capacity_wh: float | None = None
    #: DC ``stateOfCharge``: the battery's state of charge now.
    soc_pct: float | None = None
    full_soc_pct: float | None = None
    bulk_soc_pct: float | None = None
    min_charge_power_per_phase_w: tuple[float, ...] = ()
    max_charge_power_per_phase_w: tuple[float, ...] = ()
    min_discharge_power_per_phase_w: tuple[float, ...] = ()
    max_discharge_power_per_phase_w: tuple[float, ...] = ()
    min_charge_current_a: float | None = None
    max_charge_current_a: float | None = None
    min_discharge_current_a: float | None = None
    max_discharge_current_a: float | None = None
    min_voltage_v: float | None = None
    max_voltage_v: float | None = None


GridSignalKind = Literal[
    "day_ahead_price",
    "intraday_auction_price",
    "imbalance_price",
    "imbalance_price_long",
    "imbalance_price_short",
    "congestion_price",
    "energy_price",
    "feed_in_tariff",
    "import_capacity_limit",
    "export_capacity_limit",
    "dispatch_setpoint",
    "regulation_state",
    "frequency",
    "voltage",
    "connection_demand_prognosis",
    "grid_alert",
    "current_average_demand",
    "monthly_peak_demand",
    "flex_request_min_power",
    "flex_request_max_power",
    "flex_available_min_power",
    "flex_available_max_power",
]
"""What a grid signal says. ``imbalance_price`` is a single price for every BRP position
(Elia; ENTSO-E A85 without category); ``energy_price`` a retail or dynamic tariff price
sent to a site (OpenADR ``PRICE``); ``imbalance_price_long`` / ``_short`` are the prices
for a BRP that is long (ENTSO-E ``A04`` excess balance, TenneT surplus) or short (``A05``
insufficient balance, TenneT shortage) when a TSO publishes two. ``current_average_demand``
and ``monthly_peak_demand`` are what the site's own meter says (P1): the running average of
the quarter-hour in progress, and the highest quarter-hour of a month. ``flex_request_*`` and
``flex_available_*`` are a DSO's UFTP FlexRequest for a congestion point: the bounds (W,
positive = consumption) of the deviation from baseline it asks for, or leaves room for."""

ScopeType = Literal["site", "connection_group", "congestion_area", "bidding_zone", "control_area"]
"""What ``GridSignal.scope_id`` names: a site (its id, the grid connection EAN), a
connection group or congestion area (as the DSO names it), or a bidding zone or control
area (its EIC code, as written in the document)."""


class GridSignal(Record):
    """What a DSO or TSO says about one scope over one interval ``[interval_start, interval_end)``.

    Intervals are half-open and in UTC; ``resolution`` is the ISO 8601 duration of the
    series the interval came from (``PT15M``), as published. ``value`` is in ``unit`` as
    published for prices (``EUR/MWh``, ``CZK/MWh``), W for limits and setpoints, Hz, V,
    and ``""`` for states (regulation state -1, 0, 1, 2).

    A signal is identified by ``(source, kind, scope_type, scope_id, interval_start,
    interval_end)``: the same interval published again carries a higher ``revision`` (the
    document's revision number) and replaces it (warehouse view ``grid_signals``).
    ``source`` names the publisher and, where one publisher has several series of the same
    kind for a scope, the series (``entsoe``; ``entsoe/sequence=2`` for a second auction of a
    bidding zone). ``document_id`` is the document (or message) the value came from.
    """

    kind: GridSignalKind
    scope_type: ScopeType
    scope_id: str
    interval_start: UtcDatetime
    interval_end: UtcDatetime
    resolution: str
    value: float
    unit: str
    source: str
    document_id: str
    revision: int = Field(ge=0)
    received_at: UtcDatetime

    @model_validator(mode="after")
    def _interval_not_empty(self) -> GridSignal:
        if self.interval_end <= self.interval_start:
            raise ValueError(
                f"interval_end {self.interval_end.isoformat()} must be after interval_start "
                f"{self.interval_start.isoformat()} (intervals are half-open)"
            )
        return self


class EvseRating(Record):
    """One EVSE of a station and its rated power: the most it can draw or feed, W."""

    evse_id: int = Field(ge=1)
    rated_power_w: float = Field(gt=0)


class SiteAssignment(Record):
    """Registry entry: a station belongs to a site (grid connection), and what that site is.

    Keyed by station on the compacted ``registry.sites`` topic; every station of a site
    carries the site's fields (a change of the site is a new entry for each of its
    stations). Capacities are W at the grid connection: ``contracted_capacity_w`` for import
    (offtake), ``contracted_export_capacity_w`` for export (injection). ``dso`` names the
    distribution system operator, ``congestion_area`` and ``connection_group`` the DSO's
    groupings the site belongs to, ``brp`` the balance responsible party's id (EIC code),
    ``tariff_regime`` the grid tariff that applies (for example ``capacity_tariff_flanders``).
    """

    station_id: str
    site_id: str
    ean: str | None = None
    name: str | None = None
    congestion_area: str | None = None
    connection_group: str | None = None
    dso: str | None = None
    brp: str | None = None
    tariff_regime: str | None = None
    #: Contracted import capacity of the grid connection, W.
    contracted_capacity_w: float | None = Field(default=None, ge=0)
    contracted_export_capacity_w: float | None = Field(default=None, ge=0)
    #: Rated power of each of the station's EVSEs not listed in ``evses``, W: the most one
    #: EVSE can draw or feed. Bounds the power a pair of meter readings may imply
    #: (DOMAIN.md, Meter values).
    rated_power_w: float | None = Field(default=None, gt=0)
    #: The station's EVSEs with their own rated power (each id once).
    evses: tuple[EvseRating, ...] = ()
    timezone: str = "Europe/Brussels"
    #: EIC code of the site's bidding zone (day-ahead and imbalance prices); None: the
    #: configured default (``GRIDSTREAM_BIDDING_ZONE``).
    bidding_zone: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None

    @model_validator(mode="after")
    def _each_evse_once(self) -> SiteAssignment:
        ids = [e.evse_id for e in self.evses]
        if len(ids) != len(set(ids)):
            raise ValueError(f"station {self.station_id}: an EVSE id is listed twice: {ids}")
        return self


class StationInfo(Record):
    """Registry entry: what a station said about itself when it booted (OCPP BootNotification).

    Keyed by station; the latest entry per station is what the station is now.
    ``received_at`` is when the BootNotification arrived.
    """

    station_id: str
    received_at: UtcDatetime
    #: The protocol version the station spoke (its websocket subprotocol).
    source: Source
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    #: 2.x boot reason (PowerUp, FirmwareUpdate, ...); 1.6 does not say.
    boot_reason: str | None = None
    #: 1.6 only: type and serial number of the station's main electrical meter.
    meter_type: str | None = None
    meter_serial_number: str | None = None
    message_id: str | None = None


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


class EvseQuarterHourLoad(Record):
    """One meter's own (gross) energy over ``[interval_start, +15 min)``: a per-EVSE figure.

    The site load nets its meters; this keeps each one's import and export apart, with
    whether it counted in the site load (a station's main meter stands for its EVSEs, or
    they for it). ``transaction_id`` is set for a meter whose EVSE is unknown (keyed by its
    transaction). Latest revision per (site_id, station_id, evse_id, transaction_id,
    interval_start) wins.
    """

    site_id: str
    station_id: str
    evse_id: int | None
    transaction_id: str | None
    interval_start: UtcDatetime
    import_wh: float
    export_wh: float
    avg_import_w: float
    avg_export_w: float
    completeness: float
    estimated: bool
    in_site_load: bool
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


class HighestPeak(Record):
    """The highest quarter-hour average import power ever measured, of a site or one meter.

    ``station_id`` None: the site's (its netted load); else one meter's own gross import
    (its EVSE, or its transaction when the EVSE is unknown). ``interval_start`` is the
    quarter-hour that set it. The latest revision per (site, station, EVSE, transaction)
    wins; a late revision of that quarter-hour may lower it.
    """

    site_id: str
    station_id: str | None = None
    evse_id: int | None = None
    transaction_id: str | None = None
    peak_w: float
    interval_start: UtcDatetime
    revision: int
    computed_by: str
    as_of: UtcDatetime


class CapacityTariff(Record):
    """What a capacity tariff bills a site for one month (GRID.md 4.1; ``month`` in its zone).

    ``peak_w`` is the month's quarter-hour peak (0 without data), ``billed_peak_w`` the same
    never below ``floor_w``, ``average_billed_peak_w`` the mean of the billed peaks of the
    ``months_averaged`` months ending with this one (a month without data counts at the
    floor; ``months_measured`` of them had data). The latest revision per (site, month) wins.
    """

    site_id: str
    month: str
    tariff_regime: str
    peak_w: float
    peak_interval_start: UtcDatetime | None
    floor_w: float
    billed_peak_w: float
    months_averaged: int
    months_measured: int
    average_billed_peak_w: float
    revision: int
    computed_by: str
    as_of: UtcDatetime


class EnergyBalance(Record):
    """Energy in and out over one settlement period, valued at the prices in force.

    ``scope`` ``session``: one charging session's meter (station, EVSE, transaction), its
    gross import and export; ``site``: the grid connection's (the site load, netted across
    its meters). ``net_wh`` = import - export. Import is valued at the site's
    ``energy_price`` if one was sent, else the bidding zone's day-ahead price; export at
    the site's ``feed_in_tariff``, else the day-ahead price (``*_price_kind`` says which;
    None: no price known). Prices are EUR/MWh as published and may be negative:
    ``import_cost_eur`` = import x import price, ``export_value_eur`` = export x export
    price, ``net_cost_eur`` = their difference. ``imbalance_price_eur_mwh`` is the single
    imbalance price of the period where one is known, ``imbalance_value_eur`` the period's
    export minus import at it (a BRP's is summed from its sites' rows: view
    ``v2x_balance_brps``). ``soc_start_pct`` / ``soc_end_pct``:
    the EV's first and last state of charge in the period, where reported (sessions).
    The latest revision per (scope, site, station, EVSE, transaction, period) wins.
    """

    scope: Literal["session", "site"]
    site_id: str
    station_id: str | None = None
    evse_id: int | None = None
    transaction_id: str | None = None
    brp: str | None = None
    bidding_zone: str
    interval_start: UtcDatetime
    import_wh: float
    export_wh: float
    net_wh: float
    import_price_eur_mwh: float | None = None
    import_price_kind: str | None = None
    export_price_eur_mwh: float | None = None
    export_price_kind: str | None = None
    imbalance_price_eur_mwh: float | None = None
    #: (export - import) x the imbalance price: what the period's position is worth there.
    imbalance_value_eur: float | None = None
    import_cost_eur: float | None = None
    export_value_eur: float | None = None
    net_cost_eur: float | None = None
    soc_start_pct: float | None = None
    soc_end_pct: float | None = None
    revision: int
    computed_by: str
    as_of: UtcDatetime


Crossed = Literal["month_peak", "threshold", "contracted_capacity"]
"""What an open quarter-hour's projection crossed (``PeakAlert``)."""


class PeakAlert(Record):
    """An early warning: the open quarter-hour is heading above a peak or limit.

    ``projected_w`` is the quarter-hour's projected average import power when the reading
    of ``reading_ts`` (received at ``reading_received_at``) came in; ``crossed`` says what
    it is heading above (``month_peak``: the month's peak so far; ``threshold``: the
    configured one; ``contracted_capacity``: the site's), ``crossed_w`` its value.
    ``energy_so_far_wh`` is the import since the quarter-hour began. One alert per
    ``alert_id`` (site, quarter-hour, what was crossed).
    """

    alert_id: str
    site_id: str
    interval_start: UtcDatetime
    reading_ts: UtcDatetime
    reading_received_at: UtcDatetime
    projected_w: float
    energy_so_far_wh: float
    crossed: Crossed
    crossed_w: float
    computed_by: str
    as_of: UtcDatetime


ViolationState = Literal["open", "closed", "withdrawn"]
"""``open``: the load is still above the limit in the newest quarter-hour known; ``closed``:
it came back under; ``withdrawn``: late data or a revised limit undid the violation."""


class CapacityViolation(Record):
    """A site's load above a capacity limit (DOMAIN.md, Capacity-period violations).

    Judged per quarter-hour ``[interval_start, +15 min)`` of the site load: exceedance =
    max(0, P - L x (1 + tolerance)). The violation starts at a quarter-hour with exceedance
    and lasts while P > L (``end`` is exclusive); it counts once it lasted the minimum
    duration. ``limit_w`` is the lowest limit in force over it, ``limit_source`` where that
    came from (``contract`` for the registry's contracted capacity, else the signal's
    ``source/kind/scope_type:scope_id``). ``max_exceedance_w`` is the largest exceedance,
    ``energy_above_limit_wh`` the integral of max(0, P - L). ``violation_id`` is
    ``site:direction:start``; the latest revision per id wins.
    """

    violation_id: str
    site_id: str
    direction: Literal["import", "export"]
    state: ViolationState
    start: UtcDatetime
    end: UtcDatetime
    duration_s: float
    quarter_hours: int
    limit_w: float
    limit_source: str
    tolerance: float
    max_exceedance_w: float
    energy_above_limit_wh: float
    revision: int
    computed_by: str
    as_of: UtcDatetime


class ChargingLimit(Record):
    """A power limit or setpoint a station was given for a period (one schedule period).

    From OCPP charging profiles (SetChargingProfile seen by the proxy, 2.x
    ReportChargingProfiles) and external limits a station reports (2.x NotifyChargingLimit),
    each schedule period made absolute: ``[interval_start, interval_end)`` (``interval_end``
    None: until replaced). ``evse_id`` 0 is the whole station. ``rate_limit`` is the limit as
    sent in ``rate_unit`` (A or W); ``limit_w`` the same in W (A x 230 V x phases, 3 when the
    profile does not say); ``setpoint_w`` a 2.1 setpoint (negative: discharge).
    ``profile_key`` names the profile this period belongs to: a later message with the same
    key replaces all its periods (OCPP: the same EVSE, purpose and stack level; OCPI: the
    same session). ``profile_id`` is OCPP's integer ``chargingProfileId``;
    ``charging_profile_id`` a profile id as text, as OCPI 3.0 (draft) names profiles and
    meter samples name the profile they follow (``MeterSample.charging_profile_id``).

    OCPI ActiveChargingProfiles (the ChargingProfiles module: what the charge point computed
    for a session, pushed by the CPO) are ``TxProfile`` periods of the session
    (``transaction_id``) on ``evse_id`` 0, the whole station, since an OCPI station
    ``{country_code}*{party_id}*{evse_uid}`` is one EVSE; ``limit_source`` is
    ``OCPI:{country_code}*{party_id}`` of the CPO.
    """

    station_id: str
    site_id: str
    evse_id: int
    transaction_id: str | None = None
    profile_key: str
    profile_id: int | None = None
    charging_profile_id: str | None = None
    purpose: str | None = None
    stack_level: int | None = None
    #: Who set it: CSMS (a profile the CSMS sent), or the station's chargingLimitSource
    #: (EMS, Other, SO, CSO).
    limit_source: str
    grid_critical: bool | None = None
    interval_start: UtcDatetime
    interval_end: UtcDatetime | None = None
    rate_unit: Literal["A", "W"]
    rate_limit: float | None = None
    number_phases: int | None = None
    limit_w: float | None = None
    setpoint_w: float | None = None
    source: Source
    action: str
    message_id: str | None = None
    received_at: UtcDatetime


ComplianceScope = Literal["evse", "station", "site"]


class ProfileCompliance(Record):
    """Did a station or site keep to what it was given over one quarter-hour (plan vs meter).

    ``scope`` ``evse``: an EVSE's charging limits (its own profiles, the station's default
    profiles, external limits on it) against its own meter; ``station``: the station-wide
    limits (maximum profiles, external limits on EVSE 0) against the sum of its EVSEs;
    ``site``: a DSO's or aggregator's setpoint for the site (``dispatch_setpoint`` grid
    signals, as OpenADR sends them) against the site's net load. ``planned_w`` is the
    time-weighted average of what was in force over the part of the quarter-hour it covered
    (``covered_s`` of 900 s); ``metered_w`` the average power over the quarter-hour (import
    for limits, import - export for setpoints); ``deviation_w`` = metered - planned.
    ``compliant``: a limit is kept when the deviation is at most the tolerance, a setpoint
    when it is that close either way; judged only for a fully covered quarter-hour (None:
    partly covered). ``energy_above_plan_wh`` is max(0, deviation) x 0.25 h. ``limit_source``
    and ``profile_keys`` say where the plan came from; ``transaction_id`` is the session the
    EVSE's readings carried. A meter whose EVSE is unknown (OCPI: every meter, keyed by its
    session) is judged, with ``evse_id`` None, against the profiles given for its session.
    ``reported_profile_ids``: the charging profile ids the EVSE's meter samples named in the
    quarter-hour (OCPI 3.0 ``charging_profile_id``: the profile the station says it
    followed); ``profile_id_mismatch`` is True when one of them is not the id of a limit the
    plan came from, False when all are, None when either side names no id. The latest
    revision per (scope, site, station, EVSE or, when the EVSE is unknown, session,
    interval) wins.
    """

    scope: ComplianceScope
    site_id: str
    station_id: str | None = None
    evse_id: int | None = None
    transaction_id: str | None = None
    interval_start: UtcDatetime
    covered_s: float
    planned_w: float
    metered_w: float
    deviation_w: float
    energy_above_plan_wh: float
    compliant: bool | None
    tolerance: float
    limit_source: str
    profile_keys: tuple[str, ...]
    revision: int
    computed_by: str
    as_of: UtcDatetime
    reported_profile_ids: tuple[str, ...] = ()
    profile_id_mismatch: bool | None = None


class GridCodeEvent(Record):
    """Frequency or voltage outside its band at a site, and how V2X sessions responded.

    DOMAIN.md, Grid-code checks. ``kind`` ``frequency``: the site's stations read the
    grid frequency outside ``[band_low, band_high]`` (49.8-50.2 Hz by default); ``voltage``:
    one meter's (station, EVSE) phase-to-neutral voltage (``phase``) outside 230 V +/- 10 %.
    The event
    starts at the first reading outside the band and ends (``end``) at the first reading
    back inside (None while ``open``); ``duration_s`` runs to the end, or to the last
    reading outside while open. ``extreme`` is the lowest (``under``) or highest (``over``)
    value read. For frequency: ``sessions_affected`` counts the bidirectional (V2X) EVSEs
    with a session when it began, ``sessions_responded`` those whose power moved the way the
    grid needed (less charging or more discharge below the band, less discharge or more
    charging above it), each in ``responses`` as ``station|evse|W before|W during|yes/no``.
    The latest revision per ``event_id`` wins.
    """

    event_id: str
    kind: Literal["frequency", "voltage"]
    site_id: str
    station_id: str | None = None
    evse_id: int | None = None
    phase: str | None = None
    direction: Literal["under", "over"]
    state: Literal["open", "closed"]
    start: UtcDatetime
    end: UtcDatetime | None = None
    duration_s: float
    extreme: float
    band_low: float
    band_high: float
    readings: int
    sessions_affected: int | None = None
    sessions_responded: int | None = None
    responses: tuple[str, ...] = ()
    revision: int
    computed_by: str
    as_of: UtcDatetime


class SiteFlexibility(Record):
    """What the charging sessions under way at one site can give in one settlement period.

    DOMAIN.md, Flexibility of a session, summed over the site's sessions with charging
    needs: ``baseline_w`` the sessions' power now (P0, positive: charging), ``reduce_w``
    how much less they can take (down to Plo, discharging with V2X), ``increase_w`` how much
    more (up to Phi), for the period ``[interval_start, +15 min)`` that follows the site's
    newest reading (``reading_ts``). ``sessions`` counts them; ``unknown_departure`` those
    among them that did not say when they leave (they offer no reduction). Keyed by
    congestion area on ``flex.sites``: one worker sums an area (``FlexOffer``). The latest
    revision per (site, period) wins.
    """

    site_id: str
    congestion_area: str
    interval_start: UtcDatetime
    baseline_w: float
    reduce_w: float
    increase_w: float
    sessions: int
    unknown_departure: int = 0
    reading_ts: UtcDatetime
    revision: int
    computed_by: str
    as_of: UtcDatetime


class FlexOffer(Record):
    """Flexibility on offer in a congestion area for one settlement period, for its DSO.

    The sums over the area's sites (``SiteFlexibility``, latest revision each) of baseline
    power, reduction and increase (W; "reduce" and "increase" consumption, as DOMAIN.md
    names them, because "up" and "down" mean opposite things to a TSO and a DSO), with the
    number of sessions and sites behind them. ``[interval_start, interval_end)`` is the
    period. The latest revision per (area, period) wins.
    """

    offer_id: str
    congestion_area: str
    interval_start: UtcDatetime
    interval_end: UtcDatetime
    baseline_w: float
    reduce_w: float
    increase_w: float
    sessions: int
    sites: int
    revision: int
    computed_by: str
    as_of: UtcDatetime


class UftpOfferedIsp(Record):
    """One ISP element of a UFTP FlexOffer gridstream sent a DSO, answering its FlexRequest.

    ``[interval_start, interval_end)`` is the element's ISPs in UTC; ``power_w`` the power
    offered in UFTP's sign (W, negative: less consumption, as the DSO asked);
    ``offer_price`` the asking price of the whole offer (every element of it), in
    ``currency``. ``offer_message_id`` and ``flex_request_message_id`` are the UFTP
    MessageIDs of the offer and of the request it answers.
    """

    offer_message_id: str
    flex_request_message_id: str
    dso_domain: str
    congestion_point: str
    interval_start: UtcDatetime
    interval_end: UtcDatetime
    power_w: float
    offer_price: float
    currency: str
    expires_at: UtcDatetime
    sent_at: UtcDatetime


class OcpiCdr(Record):
    """A charge detail record a roaming partner settled (OCPI CDRs module, POST).

    The billed energy of a session, kept beside the metered one: ``total_energy_wh`` is the
    CDR's ``total_energy`` (kWh) in Wh. ``station_id`` and ``transaction_id`` are the ones
    the OCPI connector gives the session's readings (``{country_code}*{party_id}*{evse_uid}``
    and the session id), so that the warehouse can join the two. ``[started_at, ended_at)`` is the
    charging session as the CDR states it.
    """

    cdr_id: str
    country_code: str
    party_id: str
    station_id: str
    site_id: str
    #: The OCPI session id; None when the CDR does not name it (it is optional there).
    transaction_id: str | None = None
    location_id: str
    evse_uid: str
    connector_id: str | None = None
    started_at: UtcDatetime
    ended_at: UtcDatetime
    total_energy_wh: float
    total_time_s: float
    total_parking_time_s: float | None = None
    currency: str
    total_cost_excl_vat: float
    total_cost_incl_vat: float | None = None
    #: The CDR's ``last_updated``.
    ts: UtcDatetime
    source: Source
    received_at: UtcDatetime


class OcpiEvse(Record):
    """One EVSE of a roaming partner's Location (OCPI Locations module, PUT/PATCH).

    Published on its own topic; the registry merge (``gridstream.registry_merge``) takes
    the location's site, time zone and the EVSE's rated power from it. ``max_power_w`` is
    the largest ``max_electric_power`` of its connectors (W), or, where a connector does not
    give it, voltage x amperage (x 3 phases for AC_3_PHASE; x sqrt(3) is not used: OCPI
    voltage is line to neutral).
    """

    station_id: str
    site_id: str
    country_code: str
    party_id: str
    location_id: str
    evse_uid: str
    #: The eMI3 EVSE id (``BE*BEC*E041503001``), when the location gives one.
    evse_id: str | None = None
    status: str
    max_power_w: float | None = None
    connector_ids: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    time_zone: str | None = None
    #: The EVSE's (else the location's) ``last_updated``.
    ts: UtcDatetime
    source: Source
    received_at: UtcDatetime


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
