"""`gridstream ocpi partner`: provision partners, print the token once, keep only its hash."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from connectors.ocpi import PartnerStore
from gridstream.cli import main


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDSTREAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRIDSTREAM_OCPI_PORT", "9101")
    return tmp_path / "data"


def test_add_prints_token_a_and_the_versions_url_and_keeps_a_hash(data_dir, capsys):
    assert main(["ocpi", "partner", "add", "--country-code", "be", "--party-id", "bec"]) == 0
    out = capsys.readouterr().out
    token = next(line.split(": ")[1] for line in out.splitlines() if "TOKEN_A" in line)
    assert "versions URL: http://127.0.0.1:9101/ocpi/versions" in out
    assert f"Authorization: Token {base64.b64encode(token.encode()).decode()}" in out
    path = data_dir / "ocpi" / "partners.json"
    assert token not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [entry] = json.loads(path.read_text())
    assert (entry["country_code"], entry["party_id"], entry["role"]) == ("BE", "BEC", "CPO")
    found = PartnerStore(path).authenticate(f"Token {token}")
    assert found is not None and found[1] == "A"


def test_a_partner_is_added_once_listed_and_removed(data_dir, capsys):
    add = ["ocpi", "partner", "add", "--country-code", "NL", "--party-id", "EXA", "--role", "EMSP"]
    assert main(add) == 0
    assert main(add) == 2  # exists: --replace for a new token
    assert main([*add, "--replace"]) == 0
    capsys.readouterr()
    assert main(["ocpi", "partner", "list"]) == 0
    assert capsys.readouterr().out == "NL EXA EMSP not registered\n"
    remove = ["ocpi", "partner", "remove", "--country-code", "NL", "--party-id", "EXA"]
    assert main(remove) == 0
    assert main(remove) == 2


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--country-code", "BEL", "--party-id", "BEC"], "country code of 3 letters"),
        (["--country-code", "BE", "--party-id", "BE"], "party id of 2 characters"),
        (["--country-code", "BE", "--party-id", "BEC", "--role", "KING"], "unknown role"),
    ],
)
def test_bad_partner_ids_are_refused(data_dir, capsys, args, why):
    assert main(["ocpi", "partner", "add", *args]) == 2, why
    assert "gridstream:" in capsys.readouterr().err
