"""`gridstream credentials`: add a station, print its password once, keep only the hash."""

from __future__ import annotations

import io
import stat

import pytest

from connectors.ocpp.credentials import PASSWORD_ALPHABET, parse_credentials, verify_password
from gridstream.cli import main


@pytest.fixture
def creds(tmp_path, monkeypatch):
    path = tmp_path / "etc" / "credentials.jsonl"
    monkeypatch.setenv("GRIDSTREAM_OCPP_CREDENTIALS_FILE", str(path))
    return path


def test_add_prints_a_generated_password_once_and_stores_only_its_hash(creds, capsys):
    assert main(["credentials", "add", "CP-1", "--profile", "1"]) == 0
    out = capsys.readouterr()
    password = out.out.strip()
    assert 16 <= len(password) <= 40 and set(password) <= set(PASSWORD_ALPHABET)
    assert "CP-1 added" in out.err
    assert password not in creds.read_text()
    entry = parse_credentials(creds.read_text())["CP-1"]
    assert entry.security_profile == 1
    assert verify_password(password.encode(), entry.password_hash)
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600


def test_add_reads_a_16_authorization_key_from_stdin_and_accepts_both_forms(
    creds, capsys, monkeypatch
):
    key = "00112233445566778899aabbccddeeff"
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    assert main(["credentials", "add", "CP-16", "--hex-key", "--password-stdin"]) == 0
    assert capsys.readouterr().out == ""  # nothing to show: the operator typed it
    entry = parse_credentials(creds.read_text())["CP-16"]
    assert entry.security_profile == 2  # the default: TLS
    assert verify_password(key.encode(), entry.password_hash)
    assert verify_password(bytes.fromhex(key), entry.password_hash)


def test_add_refuses_a_weak_password_and_writes_nothing(creds, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["credentials", "add", "CP-1", "--password-stdin"]) == 2
    assert "16..64 characters" in capsys.readouterr().err
    assert not creds.exists()


def test_an_existing_station_is_replaced_only_when_asked(creds, capsys):
    main(["credentials", "add", "CP-1"])
    first = capsys.readouterr().out.strip()
    assert main(["credentials", "add", "CP-1"]) == 2
    assert "exists; pass --replace" in capsys.readouterr().err
    assert main(["credentials", "add", "CP-1", "--replace"]) == 0
    second = capsys.readouterr().out.strip()
    entry = parse_credentials(creds.read_text())["CP-1"]
    assert verify_password(second.encode(), entry.password_hash)
    assert not verify_password(first.encode(), entry.password_hash)


def test_list_and_remove(creds, capsys):
    main(["credentials", "add", "CP-2", "--profile", "2"])
    main(["credentials", "add", "CP-1", "--profile", "1"])
    capsys.readouterr()
    assert main(["credentials", "list"]) == 0
    assert capsys.readouterr().out == "CP-1\tsecurity profile 1\nCP-2\tsecurity profile 2\n"
    assert main(["credentials", "remove", "CP-1"]) == 0
    assert list(parse_credentials(creds.read_text())) == ["CP-2"]
    assert main(["credentials", "remove", "CP-1"]) == 2


def test_without_a_credentials_file_setting_it_says_which_to_set(monkeypatch, capsys):
    monkeypatch.delenv("GRIDSTREAM_OCPP_CREDENTIALS_FILE", raising=False)
    assert main(["credentials", "list"]) == 2
    assert "set GRIDSTREAM_OCPP_CREDENTIALS_FILE" in capsys.readouterr().err
