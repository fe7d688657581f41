"""Station credentials: hashes that verify, the 1.6 hex/octets quirk, the file format."""

from __future__ import annotations

import json

import pytest

from connectors.ocpp.credentials import (
    GENERATED_PASSWORD_CHARS,
    PASSWORD_ALPHABET,
    ScryptCost,
    StationCredential,
    format_credentials,
    generate_password,
    hash_password,
    parse_credentials,
    parse_hash,
    password_candidates,
    password_octets,
    unusable_hash,
    verify_password,
)
from gridstream.errors import ConfigError

CHEAP = ScryptCost(log2_n=4)  # the format and the logic, not the cost, are under test
SALT = b"0123456789abcdef"
PASSWORD = b"Str0ng-Passw0rd:x|y@z.*"
KEY_HEX = "00112233445566778899aabbccddeeff01020304"  # 20 octets, 40 hex digits


def line(station_id: str = "CP-1", profile: object = 1, password_hash: object = None) -> str:
    h = password_hash if password_hash is not None else hash_password(PASSWORD, SALT, CHEAP)
    return json.dumps({"station_id": station_id, "security_profile": profile, "password_hash": h})


def test_a_hashed_password_verifies_and_a_different_one_does_not():
    stored = hash_password(PASSWORD, SALT, CHEAP)
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + b"!", stored)
    assert not verify_password(b"", stored)


def test_the_hash_is_a_phc_string_that_names_its_cost_and_keeps_no_password():
    stored = hash_password(PASSWORD, SALT, CHEAP)
    assert stored.startswith("$scrypt$ln=4,r=8,p=1$")
    assert PASSWORD.decode() not in stored
    cost, salt, key = parse_hash(stored)
    assert (cost, salt, len(key)) == (CHEAP, SALT, 32)


def test_the_same_password_gets_a_different_hash_with_another_salt():
    assert hash_password(PASSWORD, SALT, CHEAP) != hash_password(PASSWORD, b"f" * 16, CHEAP)


def test_a_short_salt_is_refused():
    with pytest.raises(ValueError, match="salt"):
        hash_password(PASSWORD, b"short", CHEAP)


@pytest.mark.parametrize(
    "presented",
    [
        bytes.fromhex(KEY_HEX),  # the decoded octets (A00.FR.205)
        KEY_HEX.encode(),  # the hex text, as some 1.6 stations send it
        KEY_HEX.upper().encode(),  # hex digits are case-insensitive
    ],
    ids=["octets", "hex-lower", "hex-upper"],
)
def test_a_16_authorization_key_verifies_as_octets_or_as_hex_text(presented):
    stored = hash_password(password_octets(KEY_HEX, hex_key=True), SALT, CHEAP)
    assert verify_password(presented, stored)


def test_hex_text_is_also_tried_decoded_but_other_text_only_as_sent():
    assert password_candidates(b"0a1B") == (b"0a1B", b"\x0a\x1b")
    assert password_candidates(b"0a1") == (b"0a1",)  # odd length: not hex octets
    assert password_candidates(PASSWORD) == (PASSWORD,)


def test_no_password_matches_the_unusable_hash():
    unusable = unusable_hash(CHEAP)
    parse_hash(unusable)  # well formed, so it costs what a real check costs
    assert not verify_password(b"", unusable)
    assert not verify_password(bytes(16), unusable)


@pytest.mark.parametrize(
    "bad",
    [
        "plain-text",
        "$scrypt$ln=4,r=8,p=1$c2FsdA$a2V5",  # salt and key too short
        "$pbkdf2$ln=4,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + "A" * 43,  # another scheme
        "$scrypt$ln=0,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + "A" * 43,  # N = 1
    ],
)
def test_a_malformed_hash_is_refused(bad):
    with pytest.raises(ValueError):
        parse_hash(bad)


def test_generated_passwords_keep_to_the_2x_alphabet_and_length():
    picks = iter(range(10_000))

    def choice(alphabet: str) -> str:  # deterministic: walks the alphabet
        return alphabet[next(picks) % len(alphabet)]

    password = generate_password(choice)
    assert len(password) == GENERATED_PASSWORD_CHARS
    assert 16 <= len(password) <= 40
    assert set(password) <= set(PASSWORD_ALPHABET)
    key = generate_password(choice, hex_key=True)
    assert len(key) == 40 and password_octets(key, hex_key=True) == bytes.fromhex(key)


@pytest.mark.parametrize(
    ("password", "hex_key", "problem"),
    [
        ("short", False, "16..64 characters"),
        ("x" * 65, False, "16..64 characters"),
        ("with a space in it!", False, "printable ASCII"),
        ("0011223344556677", True, "hex digits"),  # 8 octets: below 16
        ("00112233445566778899aabbccddeeffx", True, "hex digits"),  # not hex
        ("00" * 21, True, "hex digits"),  # 21 octets: above 40 hex digits
    ],
)
def test_a_password_outside_the_rules_is_refused_with_the_rule(password, hex_key, problem):
    with pytest.raises(ValueError, match=problem):
        password_octets(password, hex_key=hex_key)


def test_the_credentials_file_round_trips_and_skips_comments_and_blank_lines():
    entries = parse_credentials("# depot A\n\n" + line("CP-2", 2) + "\n" + line("CP-1", 1))
    assert list(entries) == ["CP-2", "CP-1"]
    assert entries["CP-2"].security_profile == 2
    again = parse_credentials(format_credentials(entries))
    assert again == entries
    assert format_credentials(entries).splitlines()[0].startswith('{"station_id": "CP-1"')


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "line 1: Expecting value"),
        ("[1, 2]", "line 1: expected a JSON object"),
        ('{"station_id": "CP-1"}', "missing ['security_profile', 'password_hash']"),
        (line()[:-1] + ', "note": "x"}', "unknown ['note']"),
        (line(profile=4), "security_profile must be one of (1, 2, 3), got 4"),
        (line(profile=3), "a security profile 3 station has no password"),
        (line(profile=True), "security_profile must be one of"),
        (line(station_id=""), "station_id must be a non-empty string"),
        (line(password_hash="secret"), "not a $scrypt$"),
        ("# header\n" + line() + "\n" + line(), "line 3: station 'CP-1' listed twice"),
    ],
)
def test_a_bad_credentials_line_is_a_config_error_naming_the_line(text, problem):
    with pytest.raises(ConfigError) as caught:
        parse_credentials(text, "creds.jsonl")
    assert str(caught.value).startswith("creds.jsonl, line ")
    assert problem in str(caught.value)


def test_format_accepts_a_sequence_of_entries_sorted_by_station():
    a = StationCredential("B", 1, unusable_hash(CHEAP))
    b = StationCredential("A", 2, unusable_hash(CHEAP))
    assert list(parse_credentials(format_credentials([a, b]))) == ["A", "B"]
