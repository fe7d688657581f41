r"""Station credentials for OCPP security profiles 1 and 2: parse, hash, verify (pure).

A station authenticates with HTTP Basic, username = its identity, password = its
``BasicAuthPassword`` (2.x) or ``AuthorizationKey`` (1.6) (PROTOCOLS.md §1). gridstream
keeps only a hash of each password, in a credentials file of JSON lines, one per station::

    {"station_id": "CP-0001", "security_profile": 2, "password_hash": "$scrypt$ln=14,r=8,p=1$..."}

Blank lines and lines starting with ``#`` are ignored. ``security_profile`` is the lowest
profile the station may connect with (1: ws:// + Basic; 2: wss:// + Basic); a profile-2
station is never accepted without TLS ("never downgrade").

The hash is scrypt (RFC 7914) with a random 16-byte salt per station, written as a PHC
string ``$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<key>`` (standard base64, unpadded).
Cost ``ln=14, r=8, p=1`` (16 MiB, about 50 ms per check here) is RFC 7914's interactive
setting: the passwords are machine-generated and long, so the KDF mainly guards against a
leaked file, and the server caches successful checks (``connectors.ocpp.auth``).

1.6 ``AuthorizationKey`` quirk: the key is configured as hex digits and its decoded octets
are the password (A00.FR.205), but some stations send the hex text itself. A key added
with ``hex_key=True`` is hashed as its octets, and ``password_candidates`` tries a
presented password both as sent and hex-decoded, so both forms are accepted.

Nothing here reads files, clocks or randomness: salts and random choices are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, get_args

from gridstream.errors import ConfigError

SecurityProfile: TypeAlias = Literal[1, 2, 3]
"""1: ws:// + HTTP Basic; 2: wss:// (server certificate) + HTTP Basic; 3: wss:// with a TLS
client certificate whose subject common name is the station identity (no password: its
entry's ``password_hash`` is empty)."""

SECURITY_PROFILES: Final[tuple[SecurityProfile, ...]] = get_args(SecurityProfile)

#: 2.x BasicAuthPassword alphabet (OCPP 2.0.1 / 2.1 Part 2, A00.FR.205; PROTOCOLS.md §1).
PASSWORD_ALPHABET: Final = string.ascii_letters + string.digits + "*-_=:+|@."
#: Length of a generated 2.x password: within 16..40, which every station must accept.
GENERATED_PASSWORD_CHARS: Final = 32
#: Octets of a generated 1.6 AuthorizationKey: 20 octets = the 40 hex digits 1.6 allows.
GENERATED_KEY_OCTETS: Final = 20
#: Accepted length of a password given by an operator (2.x maxLimit is at most 64).
MIN_PASSWORD_CHARS: Final = 16
MAX_PASSWORD_CHARS: Final = 64
#: Accepted octets of a 1.6 AuthorizationKey (at least 16 bytes, at most 40 hex digits).
MIN_KEY_OCTETS: Final = 16
MAX_KEY_OCTETS: Final = 20
SALT_BYTES: Final = 16

_FIELDS: Final = ("station_id", "security_profile", "password_hash")
_PHC: Final = re.compile(
    r"\$scrypt\$ln=(?P<ln>\d{1,2}),r=(?P<r>\d{1,2}),p=(?P<p>\d{1,2})"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<key>[A-Za-z0-9+/]+)"
)
_HEX: Final = re.compile(rb"(?:[0-9A-Fa-f]{2})+")


@dataclass(frozen=True)
class ScryptCost:
    """scrypt parameters: N = 2**log2_n, block size r, parallelism p; memory 128 * N * r bytes."""

    log2_n: int = 14
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        """Memory limit handed to OpenSSL: the need plus 1 MiB of slack."""
        return 128 * (1 << self.log2_n) * self.r * self.p + (1 << 20)


DEFAULT_COST: Final = ScryptCost()
#: Derived key length in bytes.
KEY_BYTES: Final = 32


@dataclass(frozen=True)
class StationCredential:
    """One station's entry: identity, lowest security profile accepted, password hash."""

    station_id: str
    security_profile: SecurityProfile
    password_hash: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: bytes, salt: bytes, cost: ScryptCost = DEFAULT_COST) -> str:
    """PHC string of scrypt(``password``, ``salt``); ``salt`` must be random per station.

    >>> hash_password(b"0123456789abcdef", b"s" * 16, ScryptCost(log2_n=4))[:34]
    '$scrypt$ln=4,r=8,p=1$c3Nzc3Nzc3Nzc'
    """
    if len(salt) < SALT_BYTES:
        raise ValueError(f"salt must be at least {SALT_BYTES} random bytes")
    key = _scrypt(password, salt, cost)
    return f"$scrypt$ln={cost.log2_n},r={cost.r},p={cost.p}${_b64(salt)}${_b64(key)}"


def _scrypt(password: bytes, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        password,
        salt=salt,
        n=1 << cost.log2_n,
        r=cost.r,
        p=cost.p,
        maxmem=cost.maxmem,
        dklen=KEY_BYTES,
    )


def parse_hash(password_hash: str) -> tuple[ScryptCost, bytes, bytes]:
    """(cost, salt, key) of a PHC scrypt string; ``ValueError`` if it is not one."""
    match = _PHC.fullmatch(password_hash)
    if match is None:
        raise ValueError("not a $scrypt$ln=..,r=..,p=..$salt$key hash")
    cost = ScryptCost(int(match["ln"]), int(match["r"]), int(match["p"]))
    if not (1 <= cost.log2_n <= 20 and cost.r >= 1 and cost.p >= 1):
        raise ValueError(f"scrypt cost out of range: {cost}")
    try:
        salt, key = _unb64(match["salt"]), _unb64(match["key"])
    except binascii.Error as exc:
        raise ValueError(f"bad base64 in the hash: {exc}") from None
    if len(salt) < SALT_BYTES or len(key) != KEY_BYTES:
        raise ValueError(f"salt must be >= {SALT_BYTES} bytes and key {KEY_BYTES} bytes")
    return cost, salt, key


def password_candidates(presented: bytes) -> tuple[bytes, ...]:
    r"""The forms a presented password is checked in: as sent, then hex-decoded if it is hex.

    A 1.6 station may send its AuthorizationKey as the decoded octets or as the hex text
    (PROTOCOLS.md §1); either matches a key stored as octets.

    >>> password_candidates(b"0A1b")
    (b'0A1b', b'\n\x1b')
    >>> password_candidates(b"not-hex-text")
    (b'not-hex-text',)
    """
    if _HEX.fullmatch(presented):
        return presented, bytes.fromhex(presented.decode("ascii"))
    return (presented,)


def verify_password(presented: bytes, password_hash: str) -> bool:
    """True when one of ``password_candidates(presented)`` hashes to ``password_hash``.

    Runs the KDF once per candidate whatever the outcome (one or two runs), and compares in
    constant time. Raises ``ValueError`` if ``password_hash`` is malformed.
    """
    cost, salt, key = parse_hash(password_hash)
    matched = False
    for candidate in password_candidates(presented):
        matched |= hmac.compare_digest(_scrypt(candidate, salt, cost), key)
    return matched


def unusable_hash(cost: ScryptCost = DEFAULT_COST) -> str:
    """A well-formed hash that no password matches.

    Unknown stations are checked against it, so that they cost the time a known station
    with a wrong password costs.
    """
    salt, key = _b64(bytes(SALT_BYTES)), _b64(bytes(KEY_BYTES))
    return f"$scrypt$ln={cost.log2_n},r={cost.r},p={cost.p}${salt}${key}"


def password_octets(password: str, *, hex_key: bool) -> bytes:
    r"""The octets to hash for a password an operator typed; ``ValueError`` says what is wrong.

    ``hex_key``: a 1.6 AuthorizationKey of 32..40 hex digits; its decoded octets are the
    password. Otherwise 16..64 printable ASCII characters without spaces (a 2.x
    BasicAuthPassword keeps to ``PASSWORD_ALPHABET``).

    >>> password_octets("00112233445566778899aabbccddeeff", hex_key=True)[:2]
    b'\x00\x11'
    """
    if hex_key:
        if not _HEX.fullmatch(password.encode()) or not (
            MIN_KEY_OCTETS <= len(password) // 2 <= MAX_KEY_OCTETS
        ):
            raise ValueError(
                f"an AuthorizationKey is {2 * MIN_KEY_OCTETS}..{2 * MAX_KEY_OCTETS} hex digits "
                f"(an even number), got {len(password)} characters"
            )
        return bytes.fromhex(password)
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValueError(
            f"a password is {MIN_PASSWORD_CHARS}..{MAX_PASSWORD_CHARS} characters, "
            f"got {len(password)}"
        )
    if not all("!" <= c <= "~" for c in password):
        raise ValueError("a password is printable ASCII without spaces")
    return password.encode("ascii")


def generate_password(choice: Callable[[str], str], *, hex_key: bool = False) -> str:
    """A new password drawn with ``choice`` (pass ``secrets.choice``).

    2.x: ``GENERATED_PASSWORD_CHARS`` characters of ``PASSWORD_ALPHABET`` (about 200 bits);
    ``hex_key``: a 1.6 AuthorizationKey of ``GENERATED_KEY_OCTETS`` octets as hex digits.
    """
    if hex_key:
        return "".join(choice("0123456789abcdef") for _ in range(2 * GENERATED_KEY_OCTETS))
    return "".join(choice(PASSWORD_ALPHABET) for _ in range(GENERATED_PASSWORD_CHARS))


def parse_credentials(text: str, where: str = "credentials file") -> dict[str, StationCredential]:
    r"""Entries of a credentials file (JSON lines), by station id.

    Raises ``ConfigError`` naming the line and the problem (bad JSON, missing or unknown
    field, profile not 1, 2 or 3, malformed hash, a station listed twice).

    >>> line = '{"station_id": "CP-1", "security_profile": 1, "password_hash": "%s"}'
    >>> list(parse_credentials("# fleet A\n" + line % unusable_hash()))
    ['CP-1']
    """
    out: dict[str, StationCredential] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entry = _entry(json.loads(line))
        except (json.JSONDecodeError, ValueError) as exc:
            raise ConfigError(f"{where}, line {number}: {exc}") from None
        if entry.station_id in out:
            raise ConfigError(f"{where}, line {number}: station {entry.station_id!r} listed twice")
        out[entry.station_id] = entry
    return out


def _entry(value: Any) -> StationCredential:
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object with {', '.join(_FIELDS)}")
    missing = [f for f in _FIELDS if f not in value]
    unknown = sorted(set(value) - set(_FIELDS))
    if missing or unknown:
        raise ValueError(
            f"missing {missing or 'nothing'}, unknown {unknown or 'nothing'}; "
            f"fields: {', '.join(_FIELDS)}"
        )
    station_id, profile, password_hash = (value[f] for f in _FIELDS)
    if not isinstance(station_id, str) or not station_id:
        raise ValueError("station_id must be a non-empty string")
    if profile not in SECURITY_PROFILES or isinstance(profile, bool):
        raise ValueError(f"security_profile must be one of {SECURITY_PROFILES}, got {profile!r}")
    if not isinstance(password_hash, str):
        raise ValueError("password_hash must be a string")
    if profile == 3:
        if password_hash:
            raise ValueError("a security profile 3 station has no password: password_hash ''")
    else:
        parse_hash(password_hash)
    return StationCredential(station_id, profile, password_hash)


def format_credentials(
    credentials: Mapping[str, StationCredential] | Sequence[StationCredential],
) -> str:
    """The credentials file text for ``credentials`` (one JSON line each, sorted by station)."""
    entries = credentials.values() if isinstance(credentials, Mapping) else credentials
    lines = [
        json.dumps(
            {
                "station_id": c.station_id,
                "security_profile": c.security_profile,
                "password_hash": c.password_hash,
            }
        )
        for c in sorted(entries, key=lambda c: c.station_id)
    ]
    return "".join(f"{line}\n" for line in lines)
