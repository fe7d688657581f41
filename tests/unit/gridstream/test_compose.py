"""docker-compose.yml (no Docker engine here, so the file is checked by reading it)."""

from __future__ import annotations

from pathlib import Path

import yaml

from gridstream.settings import Settings

COMPOSE = Path(__file__).parents[3] / "docker-compose.yml"


def test_compose_runs_kafka_in_kraft_mode_and_gridstream_against_it() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topics come from the catalog

    gridstream = services["gridstream"]
    assert gridstream["environment"]["GRIDSTREAM_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert gridstream["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_compose_sets_only_settings_that_exist() -> None:
    env = yaml.safe_load(COMPOSE.read_text())["services"]["gridstream"]["environment"]
    known = {f"GRIDSTREAM_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known
