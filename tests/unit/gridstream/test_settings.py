"""Settings: GRIDSTREAM_* variables, documented in the README from one source."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridstream.errors import reasons_table
from gridstream.settings import Settings, settings_table

README = Path(__file__).parents[3] / "README.md"


def test_readme_lists_every_setting_as_generated() -> None:
    assert settings_table() in README.read_text()


def test_settings_come_from_prefixed_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDSTREAM_OCPP_PORT", "9100")
    monkeypatch.setenv("GRIDSTREAM_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("OCPP_PORT", "1")  # unprefixed: ignored
    settings = Settings()
    assert settings.ocpp_port == 9100
    assert settings.kafka_bootstrap == "kafka:9092"


def test_secret_key_is_masked_when_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDSTREAM_ID_TOKEN_KEY", "very-secret")
    assert "very-secret" not in repr(Settings())


def test_readme_lists_every_rejection_reason_as_generated() -> None:
    assert reasons_table() in README.read_text()


def test_the_proxy_upstream_must_be_a_websocket_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDSTREAM_OCPP_UPSTREAM_URL", "wss://csms.example/ocpp")
    assert Settings().ocpp_upstream_url == "wss://csms.example/ocpp"
    monkeypatch.setenv("GRIDSTREAM_OCPP_UPSTREAM_URL", "https://csms.example/ocpp")
    with pytest.raises(ValueError, match="ws:// or wss://"):
        Settings()
