"""The topic catalog: the one place that names a Kafka topic.

Every topic has a key (what it is partitioned by), the record type of its values, a
partition count and a cleanup policy. Connectors, the Faust app, the sink and the CLI all
take topic names from here; nothing else spells one.

Topics are created explicitly from this catalog (``gridstream.broker.ensure_topics``)
because the embedded broker describes only the configs given at creation (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gridstream import records

CleanupPolicy = Literal["delete", "compact"]


@dataclass(frozen=True)
class Topic:
    """One Kafka topic: name, key field, value record type, partitions, retention."""

    name: str
    #: Field of the record whose value is the message key (what the topic is partitioned by).
    key_field: str
    record: type[records.Record]
    partitions: int
    cleanup_policy: CleanupPolicy = "delete"
    retention_ms: int = 7 * 24 * 3600 * 1000
    retention_bytes: int = -1

    @property
    def configs(self) -> dict[str, str]:
        """Topic configs given at creation time."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "retention.bytes": str(self.retention_bytes),
        }


# Site-keyed topics share one partition count so that a site's samples, transactions and
# derived records land on the same partition number (co-partitioning for Faust).
SITE_PARTITIONS = 4

METER_SAMPLES = Topic("meter.samples", "site_id", records.MeterSample, SITE_PARTITIONS)
TRANSACTIONS = Topic("transactions", "site_id", records.TransactionEvent, SITE_PARTITIONS)
EV_CHARGING_NEEDS = Topic("ev.charging_needs", "site_id", records.EVChargingNeeds, SITE_PARTITIONS)
# Keyed by the scope's id: a signal for a site hashes to the partition of that site's
# samples and loads (same key, same partition count), so a worker joins them without a shuffle.
GRID_SIGNALS = Topic("grid.signals", "scope_id", records.GridSignal, SITE_PARTITIONS)
REGISTRY_SITES = Topic(
    "registry.sites",
    "station_id",
    records.SiteAssignment,
    1,
    cleanup_policy="compact",
    retention_ms=-1,
)
REGISTRY_STATIONS = Topic(
    "registry.stations",
    "station_id",
    records.StationInfo,
    1,
    cleanup_policy="compact",
    retention_ms=-1,
)
LOAD_QUARTER_HOUR = Topic("load.quarter_hour", "site_id", records.QuarterHourLoad, SITE_PARTITIONS)
LOAD_EVSE_QUARTER_HOUR = Topic(
    "load.evse_quarter_hour", "site_id", records.EvseQuarterHourLoad, SITE_PARTITIONS
)
PEAKS = Topic("peaks", "site_id", records.Peak, SITE_PARTITIONS)
BALANCES_V2X = Topic("balances.v2x", "site_id", records.EnergyBalance, SITE_PARTITIONS)
ALERTS_PEAKS = Topic("alerts.peaks", "site_id", records.PeakAlert, SITE_PARTITIONS)
PEAKS_HIGHEST = Topic("peaks.highest", "site_id", records.HighestPeak, SITE_PARTITIONS)
TARIFFS_CAPACITY = Topic("tariffs.capacity", "site_id", records.CapacityTariff, SITE_PARTITIONS)
VIOLATIONS_CAPACITY = Topic(
    "violations.capacity", "site_id", records.CapacityViolation, SITE_PARTITIONS
)
EVENTS_GRID_CODE = Topic("events.grid_code", "site_id", records.GridCodeEvent, SITE_PARTITIONS)
CHARGING_LIMITS = Topic("charging.limits", "site_id", records.ChargingLimit, SITE_PARTITIONS)
COMPLIANCE_PROFILES = Topic(
    "compliance.profiles", "site_id", records.ProfileCompliance, SITE_PARTITIONS
)
#: Keyed by congestion area, so that one worker sees every site of an area and sums them.
FLEX_SITES = Topic("flex.sites", "congestion_area", records.SiteFlexibility, SITE_PARTITIONS)
FLEX_OFFERS = Topic("flex.offers", "congestion_area", records.FlexOffer, SITE_PARTITIONS)
UFTP_OFFERS = Topic("flex.uftp_offers", "congestion_point", records.UftpOfferedIsp, 1)
CDRS = Topic("cdrs", "site_id", records.OcpiCdr, SITE_PARTITIONS)
OCPI_LOCATIONS = Topic(
    "ocpi.locations",
    "station_id",
    records.OcpiEvse,
    1,
    cleanup_policy="compact",
    retention_ms=-1,
)
DLQ = Topic("dlq", "source", records.DeadLetter, 1, retention_ms=30 * 24 * 3600 * 1000)

ALL: tuple[Topic, ...] = (
    METER_SAMPLES,
    TRANSACTIONS,
    EV_CHARGING_NEEDS,
    GRID_SIGNALS,
    REGISTRY_SITES,
    REGISTRY_STATIONS,
    LOAD_QUARTER_HOUR,
    LOAD_EVSE_QUARTER_HOUR,
    PEAKS,
    PEAKS_HIGHEST,
    TARIFFS_CAPACITY,
    ALERTS_PEAKS,
    BALANCES_V2X,
    VIOLATIONS_CAPACITY,
    FLEX_SITES,
    FLEX_OFFERS,
    UFTP_OFFERS,
    CHARGING_LIMITS,
    COMPLIANCE_PROFILES,
    EVENTS_GRID_CODE,
    CDRS,
    OCPI_LOCATIONS,
    DLQ,
)

CHECKPOINTS = Topic(
    "state.meter_samples",
    "key",
    records.Record,  # opaque: a computation's serialised state per key, not a record
    SITE_PARTITIONS,
    cleanup_policy="compact",
    retention_ms=-1,
)
"""Checkpoints of the worker's state, partition p for input partition p of meter.samples:
one entry per ``<computation>:<key>`` and an offset marker (``streams.checkpoint_log``), so
that a partition's state moves with it to a worker on another host."""

FLEX_CHECKPOINTS = Topic(
    "state.flex_sites",
    "key",
    records.Record,  # opaque, as CHECKPOINTS
    FLEX_SITES.partitions,
    cleanup_policy="compact",
    retention_ms=-1,
)
"""Checkpoints of the flexibility sums per congestion area, partition p for input partition
p of flex.sites (``streams.agents.flex_offers``)."""

INTERNAL: tuple[Topic, ...] = (CHECKPOINTS, FLEX_CHECKPOINTS)
"""Topics gridstream creates but the warehouse does not keep (no record schema)."""

BY_NAME: dict[str, Topic] = {t.name: t for t in ALL}


BY_RECORD: dict[type[records.Record], Topic] = {t.record: t for t in ALL}


def for_record(record: records.Record) -> Topic:
    """The topic a canonical record belongs on (each record type has exactly one)."""
    return BY_RECORD[type(record)]


def key_of(record: records.Record) -> bytes:
    """The message key of ``record``: its topic's key field, UTF-8."""
    return str(getattr(record, for_record(record).key_field)).encode()


def by_name(name: str) -> Topic:
    """Return the catalog entry for ``name``; raise ``KeyError`` naming the valid ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(sorted(BY_NAME))}") from None
