"""The spool: a durable local buffer between a connector and the broker.

A connector publishes into the spool (``Spool.publish``: on disk, synced, then the
station is answered); the ``Forwarder`` replays the entries in order to Kafka through a
``ForwardTarget`` (``KafkaTarget``) and keeps retrying while the broker is away. Entries
are released, and their files deleted, once durable: on the broker's acknowledgement
(``ack`` mode, production Kafka with replication) or once the warehouse sink has written
them (``sink`` mode, the memory-only embedded broker). At least once into Kafka.

``frames`` (on-disk format, pure), ``ledger`` (what is released, pure), ``segments``
(files), ``spool`` (group commit, release), ``forwarder`` (replay, epochs), ``kafka``.
"""

from connectors.spool.errors import SpoolCorrupt, SpoolError, SpoolFull
from connectors.spool.forwarder import Forwarder, ForwardTarget
from connectors.spool.frames import SpoolEntry
from connectors.spool.kafka import KafkaTarget
from connectors.spool.ledger import (
    RELEASE_MODES,
    Ack,
    OffsetsReused,
    ReleaseLedger,
    ReleaseMode,
)
from connectors.spool.segments import Recovery
from connectors.spool.spool import Spool, SpoolStats

__all__ = [
    "RELEASE_MODES",
    "Ack",
    "ForwardTarget",
    "Forwarder",
    "KafkaTarget",
    "OffsetsReused",
    "Recovery",
    "ReleaseLedger",
    "ReleaseMode",
    "Spool",
    "SpoolCorrupt",
    "SpoolEntry",
    "SpoolError",
    "SpoolFull",
    "SpoolStats",
]
