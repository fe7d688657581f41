"""When the connector's spool lets go of a message, by broker (GRIDSTREAM_SPOOL_RELEASE)."""

from __future__ import annotations

import pytest

from gridstream.broker import BrokerInfo
from gridstream.parts import spool_release_mode
from gridstream.settings import Settings

EMBEDDED = BrokerInfo("127.0.0.1:1", "gridstream-e1", embedded=True)
CONFIGURED = BrokerInfo("kafka:9092", "cluster-1", embedded=False)


@pytest.mark.parametrize(
    ("setting", "broker", "mode"),
    [
        ("auto", EMBEDDED, "sink"),  # memory only: durable once in Parquet
        ("auto", CONFIGURED, "ack"),  # replicated Kafka: durable once acknowledged
        ("ack", EMBEDDED, "ack"),  # said explicitly: as said
        ("sink", CONFIGURED, "sink"),  # e.g. a single-node Kafka without replication
    ],
)
def test_release_mode_follows_the_broker_unless_set(
    setting: str, broker: BrokerInfo, mode: str
) -> None:
    settings = Settings(spool_release=setting)  # type: ignore[arg-type]
    assert spool_release_mode(settings, broker) == mode
