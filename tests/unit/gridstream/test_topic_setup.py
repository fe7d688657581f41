"""Topic setup: replication by kind of broker, and existing topics checked against the catalog."""

from __future__ import annotations

import pytest

from gridstream import topics
from gridstream.broker import Replication, TopicDifference, topic_differences, wanted_configs
from gridstream.errors import ConfigError

CLUSTER = Replication(factor=3, min_insync=2)


def _as_created(topic: topics.Topic, replication: Replication) -> dict[str, str]:
    return wanted_configs(topic, replication)


@pytest.mark.parametrize(
    ("factor", "min_insync", "embedded", "expected"),
    [
        (None, None, True, Replication(1, 1)),  # one node: one copy
        (None, None, False, Replication(3, 2)),  # a cluster: three copies, two in sync
        (1, None, False, Replication(1, 1)),  # a one-node cluster: min.insync capped at 1
        (5, 3, False, Replication(5, 3)),  # both set: as given
        (3, None, True, Replication(3, 1)),  # embedded default for min.insync, as set
    ],
)
def test_replication_defaults_depend_on_the_kind_of_broker(
    factor: int | None, min_insync: int | None, embedded: bool, expected: Replication
) -> None:
    assert Replication.resolve(factor, min_insync, embedded=embedded) == expected


def test_min_insync_above_the_factor_is_refused_naming_both_settings() -> None:
    with pytest.raises(ConfigError, match="MIN_INSYNC_REPLICAS=3 is above the replication"):
        Replication.resolve(2, 3, embedded=False)


def test_topics_are_created_with_min_insync_replicas_beside_the_catalog_configs() -> None:
    assert wanted_configs(topics.REGISTRY_SITES, CLUSTER) == {
        "cleanup.policy": "compact",
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "min.insync.replicas": "2",
    }


def test_a_topic_as_the_catalog_says_has_no_differences() -> None:
    topic = topics.METER_SAMPLES
    assert topic_differences(topic, CLUSTER, 4, 3, _as_created(topic, CLUSTER)) == []


def test_every_difference_names_the_topic_the_catalog_value_and_the_cluster_value() -> None:
    topic = topics.METER_SAMPLES  # 4 partitions, delete, 7 days = 604,800,000 ms
    described = {
        **_as_created(topic, CLUSTER),
        "retention.ms": "86400000",  # one day
        "cleanup.policy": "compact",
    }
    del described["min.insync.replicas"]  # not described: the embedded broker's gap
    found = topic_differences(topic, CLUSTER, 2, 1, described)
    assert found == [
        TopicDifference("meter.samples", "partitions", "4", "2"),
        TopicDifference("meter.samples", "replication factor", "3", "1"),
        TopicDifference("meter.samples", "cleanup.policy", "delete", "compact"),
        TopicDifference("meter.samples", "retention.ms", "604800000", "86400000"),
        TopicDifference("meter.samples", "min.insync.replicas", "2", None),
    ]
    assert [str(d) for d in found[-2:]] == [
        "retention.ms: catalog 604800000, cluster 86400000",
        "min.insync.replicas: catalog 2, cluster not set",
    ]


def test_configs_the_catalog_does_not_set_are_not_differences() -> None:
    topic = topics.PEAKS
    described = {**_as_created(topic, CLUSTER), "segment.bytes": "1073741824"}
    assert topic_differences(topic, CLUSTER, 4, 3, described) == []


class _OneNodeAdmin:
    """A kafka-python admin client of a one-broker cluster: it refuses replication 3."""

    def __init__(self, **_config: object) -> None:
        pass

    def list_topics(self) -> list[str]:
        return []

    def create_topics(self, new_topics: list[object]) -> None:
        from kafka.errors import InvalidReplicationFactorError

        raise InvalidReplicationFactorError(
            "Replication factor: 3 larger than available brokers: 1"
        )

    def close(self) -> None:
        pass


def test_a_replication_factor_the_cluster_cannot_hold_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gridstream.broker import ensure_topics
    from gridstream.errors import BrokerError

    monkeypatch.setattr("kafka.KafkaAdminClient", _OneNodeAdmin)
    with pytest.raises(BrokerError) as refused:
        ensure_topics("kafka:9092", [topics.PEAKS], CLUSTER)
    message = str(refused.value)
    assert message.startswith(
        "cannot create topics peaks on kafka:9092 with replication factor 3 and "
        "min.insync.replicas 2: "
    )
    assert "larger than available brokers: 1" in message
    assert "needs at least GRIDSTREAM_TOPIC_REPLICATION_FACTOR brokers" in message
