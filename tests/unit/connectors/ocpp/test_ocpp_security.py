"""Security from Settings: credentials file, TLS certificate and key, limits."""

from __future__ import annotations

import doctest
import logging
import ssl

import pytest
import trustme

from connectors.ocpp import auth, credentials, limits
from connectors.ocpp.credentials import (
    ScryptCost,
    StationCredential,
    format_credentials,
    hash_password,
)
from connectors.ocpp.security import security_from_settings
from gridstream.errors import ConfigError
from gridstream.settings import Settings


@pytest.fixture
def credentials_file(tmp_path):
    path = tmp_path / "credentials.jsonl"
    password_hash = hash_password(b"password-of-cp-1", b"s" * 16, ScryptCost(log2_n=4))
    path.write_text(format_credentials([StationCredential("CP-1", 2, password_hash)]))
    return path


@pytest.fixture
def certificate(tmp_path):
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
    key_file.write_bytes(cert.private_key_pem.bytes())
    return cert_file, key_file


def test_no_credentials_file_means_profile_0_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="connectors.ocpp.security"):
        security = security_from_settings(Settings())
    assert (security.authenticator, security.ssl_context, security.scheme) == (None, None, "ws")
    assert "OCPP security profile 0" in caplog.text


def test_credentials_and_certificate_give_an_authenticator_and_tls_12_or_newer(
    credentials_file, certificate
):
    cert_file, key_file = certificate
    security = security_from_settings(
        Settings(
            ocpp_credentials_file=credentials_file,
            ocpp_tls_cert_file=cert_file,
            ocpp_tls_key_file=key_file,
        )
    )
    assert security.authenticator is not None
    assert list(security.authenticator.credentials) == ["CP-1"]
    assert security.ssl_context is not None and security.scheme == "wss"
    assert security.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_profile_2_stations_without_tls_are_warned_about(credentials_file, caplog):
    with caplog.at_level(logging.WARNING, logger="connectors.ocpp.security"):
        security_from_settings(Settings(ocpp_credentials_file=credentials_file))
    assert "1 station(s) require security profile 2" in caplog.text


@pytest.mark.parametrize("which", ["ocpp_tls_cert_file", "ocpp_tls_key_file"])
def test_a_certificate_without_its_key_or_the_reverse_is_a_config_error(certificate, which):
    cert_file, key_file = certificate
    only = {"ocpp_tls_cert_file": cert_file, "ocpp_tls_key_file": key_file}[which]
    with pytest.raises(ConfigError, match="set both GRIDSTREAM_OCPP_TLS_CERT_FILE"):
        security_from_settings(Settings(**{which: only}))


def test_an_unloadable_certificate_is_a_config_error_naming_the_files(tmp_path, certificate):
    cert_file, _ = certificate
    with pytest.raises(ConfigError, match="cannot load the certificate and key"):
        security_from_settings(
            Settings(ocpp_tls_cert_file=cert_file, ocpp_tls_key_file=tmp_path / "missing.pem")
        )


def test_a_missing_or_bad_credentials_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="GRIDSTREAM_OCPP_CREDENTIALS_FILE=.*cannot read"):
        security_from_settings(Settings(ocpp_credentials_file=tmp_path / "nope.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    with pytest.raises(ConfigError, match=r"bad.jsonl, line 1: missing"):
        security_from_settings(Settings(ocpp_credentials_file=bad))


def test_limits_come_from_settings_with_0_meaning_unbounded():
    limits = security_from_settings(
        Settings(ocpp_max_messages_per_s=0, ocpp_max_connections=0, ocpp_max_message_bytes=4096)
    ).limits
    assert (limits.messages_per_s, limits.max_connections, limits.max_message_bytes) == (
        None,
        None,
        4096,
    )
    defaults = security_from_settings(Settings()).limits
    assert (defaults.messages_per_s, defaults.message_burst, defaults.max_message_bytes) == (
        20.0,
        200,
        65536,
    )


def test_limits_that_cannot_work_are_a_config_error():
    with pytest.raises(ConfigError, match="GRIDSTREAM_OCPP_\\* limits: message_burst"):
        security_from_settings(Settings(ocpp_message_burst=0))


@pytest.mark.parametrize("module", [credentials, auth, limits], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0 and failed == 0
