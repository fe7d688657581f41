"""docker-compose.yml (no Docker engine here, so the file is checked by reading it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gridstream.settings import Settings

COMPOSE = Path(__file__).parents[3] / "docker-compose.yml"
KAFKA = ("kafka-1", "kafka-2", "kafka-3")
PARTS = ("connector", "worker", "sink")


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def test_kafka_is_three_kraft_brokers_in_one_quorum_with_replication_three_and_isr_two() -> None:
    services = _services()
    envs = [services[name]["environment"] for name in KAFKA]
    for node_id, (name, env) in enumerate(zip(KAFKA, envs, strict=True), start=1):
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
        assert env["KAFKA_NODE_ID"] == node_id
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == (
            "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
        )
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topics come from the catalog
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3  # committed offsets too
        assert services[name]["volumes"] == [f"{name}:/var/lib/kafka/data"]
        assert env["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"  # the volume holds the log
        assert "kafka-broker-api-versions.sh" in services[name]["healthcheck"]["test"][1]
    assert len({env["CLUSTER_ID"] for env in envs}) == 1  # one cluster


@pytest.mark.parametrize("part", PARTS)
def test_each_part_is_a_service_against_all_three_brokers(part: str) -> None:
    service = _services()[part]
    assert service["command"] == ["gridstream", part]
    env = service["environment"]
    assert env["GRIDSTREAM_KAFKA_BOOTSTRAP"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert env["GRIDSTREAM_TOPIC_REPLICATION_FACTOR"] == "3"
    assert env["GRIDSTREAM_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
    assert {name: c["condition"] for name, c in service["depends_on"].items()} == {
        name: "service_healthy" for name in KAFKA
    }


def test_workers_scale_each_with_a_data_dir_of_its_own() -> None:
    worker = _services()["worker"]
    # `docker compose up --scale worker=3` refuses a fixed container name or host port.
    assert "container_name" not in worker and "ports" not in worker
    # An anonymous volume (no "name:" before the path) is one per replica; a named volume
    # would be shared by every replica's state store.
    [volume] = worker["volumes"]
    assert volume == worker["environment"]["GRIDSTREAM_DATA_DIR"] == "/data"


def test_only_the_connector_takes_stations_and_partners_and_the_sink_keeps_the_warehouse() -> None:
    services = _services()
    assert services["connector"]["ports"] == ["127.0.0.1:9000:9000", "127.0.0.1:9001:9001"]
    env = services["connector"]["environment"]
    assert (env["GRIDSTREAM_OCPP_PORT"], env["GRIDSTREAM_OCPI_PORT"]) == ("9000", "9001")
    assert env["GRIDSTREAM_OCPP_HOST"] == env["GRIDSTREAM_OCPI_HOST"] == "0.0.0.0"
    assert services["sink"]["volumes"] == ["warehouse:/data"]
    assert "gridstream" not in services  # no all-in-one service beside the parts


@pytest.mark.parametrize("part", PARTS)
def test_compose_sets_only_settings_that_exist(part: str) -> None:
    env = _services()[part]["environment"]
    known = {f"GRIDSTREAM_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known


INSECURE = COMPOSE.with_name("docker-compose.insecure.yml")


class _ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's ``!reset`` tag (an override that empties a value)."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: {"!reset": node.value})


def test_the_default_stack_makes_stations_authenticate_over_tls() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    connector = compose["services"]["connector"]
    env = connector["environment"]
    secrets = {
        "GRIDSTREAM_OCPP_CREDENTIALS_FILE": "ocpp-credentials",
        "GRIDSTREAM_OCPP_TLS_CERT_FILE": "ocpp-tls-cert",
        "GRIDSTREAM_OCPP_TLS_KEY_FILE": "ocpp-tls-key",
    }
    for variable, secret in secrets.items():
        assert env[variable] == f"/run/secrets/{secret}"  # where Docker mounts a secret
        assert compose["secrets"][secret]["file"].startswith("./secrets/")
    assert sorted(connector["secrets"]) == sorted(secrets.values())


def test_the_insecure_mode_is_an_explicit_override_that_drops_the_secrets() -> None:
    override = yaml.load(INSECURE.read_text(), Loader=_ComposeLoader)  # noqa: S506 - SafeLoader subclass
    connector = override["services"]["connector"]
    assert connector["secrets"] == {"!reset": []}
    script = connector["command"][-1]
    for variable in ("CREDENTIALS_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"):
        assert f"GRIDSTREAM_OCPP_{variable}" in script.split("; exec")[0]
    assert script.endswith("exec gridstream connector")
    assert "profile 0" in INSECURE.read_text()  # it says what it gives up


@pytest.mark.parametrize("part", PARTS)
def test_each_part_is_health_checked_by_gridstream_status_on_its_own_metrics(part: str) -> None:
    service = _services()[part]
    port = service["environment"]["GRIDSTREAM_METRICS_PORT"]
    assert service["healthcheck"]["test"] == [
        "CMD", "gridstream", "status", "--metrics", f"http://127.0.0.1:{port}/metrics"
    ]  # fmt: skip
    # the check runs inside the container, where the part serves its metrics on loopback
    assert Settings(metrics_port=int(port)).metrics_host == "127.0.0.1"  # type: ignore[arg-type]
