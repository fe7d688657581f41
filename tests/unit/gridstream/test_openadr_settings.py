"""GRIDSTREAM_OPENADR_*: the VEN `gridstream run` starts, or a clear refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridstream.errors import ConfigError
from gridstream.grid_feeds import openadr_ven_config
from gridstream.settings import Settings


def test_no_vtn_no_ven() -> None:
    assert openadr_ven_config(Settings(openadr_vtn_url=None)) is None


def test_a_vtn_without_client_credentials_is_refused() -> None:
    with pytest.raises(ConfigError, match="GRIDSTREAM_OPENADR_CLIENT_ID and .*SECRET"):
        openadr_ven_config(Settings(openadr_vtn_url="https://vtn.example"))


def test_the_settings_make_the_ven_config() -> None:
    config = openadr_ven_config(
        Settings(openadr_vtn_url="https://vtn.example", openadr_client_id="ven-1",
                 openadr_client_secret="s3cret", openadr_site_id="871685900000000001",
                 openadr_poll_interval_s=30)  # type: ignore[arg-type]
    )  # fmt: skip
    assert config is not None
    assert (config.client_id, config.client_secret) == ("ven-1", "s3cret")
    assert (config.default_site, config.poll_interval) == (
        "871685900000000001", timedelta(seconds=30))  # fmt: skip
    assert "s3cret" not in repr(Settings(openadr_client_secret="s3cret"))  # type: ignore[arg-type]
