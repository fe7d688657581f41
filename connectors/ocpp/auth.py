"""HTTP Basic authentication of stations at the websocket handshake (security profiles 1, 2).

``Authenticator.authenticate`` decides whether a handshake may proceed: the Basic username
must be the station identity in the URL (so a station cannot connect, and so cannot
write readings, under another station's id), the password must match that station's
hash, and a profile-2 station must have come over TLS. Every refusal looks the same to the
client (the server answers 401); the reason is only logged.

Cost under reconnect storms: a first check runs scrypt (about 50 ms, in a worker thread,
at most ``max_parallel`` at once, so the event loop keeps serving connected stations). A
success is remembered as HMAC(process secret, station id, presented password): the next
handshake with the same password costs one HMAC. A failure is remembered the same way (a
bounded LRU), so a station retrying with a stale password does not cost a KDF run each
time. An unknown station is checked against an unusable hash, so it costs what a wrong
password costs. The caches live in memory only and hold no password. A profile-3 station
presents no password: the TLS layer verified its client certificate against the station CA
(``GRIDSTREAM_OCPP_TLS_CLIENT_CA_FILE``), and its subject common name must be the station
identity in the URL.

Bounded under abuse: at most ``max_queued`` distinct checks wait for or hold a KDF slot;
beyond that a new (station, password) pair is refused as ``busy`` at once (the server
answers 503 with Retry-After), so invented credentials cannot queue KDF work without end.
A profile-2 station that came without TLS is refused before any KDF runs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from connectors.ocpp.credentials import StationCredential, unusable_hash, verify_password

log = logging.getLogger(__name__)

#: Realm announced in ``WWW-Authenticate``.
REALM: Final = "gridstream OCPP"

Refusal: TypeAlias = Literal[
    "missing_credentials",
    "malformed_credentials",
    "username_mismatch",
    "unknown_station",
    "wrong_password",
    "tls_required",
    "busy",
    "client_certificate_required",
    "certificate_mismatch",
]


@dataclass(frozen=True)
class AuthResult:
    """Outcome of one handshake check: ``refusal`` None means accepted."""

    station_id: str
    refusal: Refusal | None
    cached: bool

    @property
    def accepted(self) -> bool:
        """True when the handshake may proceed."""
        return self.refusal is None


@dataclass
class AuthCounters:
    """How handshakes were decided (for the run summary and the handshake benchmark)."""

    accepted: int = 0
    refused: int = 0
    kdf_checks: int = 0
    cache_hits: int = 0


def parse_basic_authorization(header: str) -> tuple[str, bytes] | None:
    """(username, password octets) of an ``Authorization: Basic ...`` value; None if malformed.

    The password stays octets: a 1.6 AuthorizationKey may be sent as raw binary.

    >>> parse_basic_authorization("Basic Q1AtMTpzM2NyZXQ=")
    ('CP-1', b's3cret')
    >>> parse_basic_authorization("Bearer x") is None
    True
    """
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


class Authenticator:
    """Checks Basic credentials of stations against their stored hashes, with caches."""

    def __init__(
        self,
        credentials: Mapping[str, StationCredential],
        *,
        secret: bytes,
        max_parallel: int = 2,
        failure_cache_size: int = 10_000,
        max_queued: int = 64,
    ) -> None:
        """``secret``: random bytes of this process, keying the cache entries (never stored).

        ``max_parallel``: KDF runs at once (each takes a core and 16 MiB for ~50 ms).
        ``max_queued``: distinct checks running or waiting at once; beyond, ``busy``.
        """
        if len(secret) < 16:
            raise ValueError("the cache secret must be at least 16 random bytes")
        self._credentials = dict(credentials)
        self._secret = secret
        self._slots = asyncio.Semaphore(max_parallel)
        self._verified: dict[str, bytes] = {}
        self._failed: OrderedDict[bytes, None] = OrderedDict()
        self._failure_cache_size = failure_cache_size
        self._running: dict[bytes, asyncio.Task[bool]] = {}
        self._max_queued = max_queued
        self._unusable = unusable_hash()
        self.counters = AuthCounters()

    @property
    def credentials(self) -> Mapping[str, StationCredential]:
        """The stations that may connect, by id."""
        return self._credentials

    async def authenticate(
        self,
        station_id: str,
        authorization: str | None,
        *,
        tls: bool,
        certificate_name: str | None = None,
    ) -> AuthResult:
        """Decide a handshake for ``station_id`` (from the URL) with its Authorization header.

        ``tls``: whether the connection came over TLS. ``certificate_name``: the subject
        common name of the client certificate the TLS layer verified against the station
        CA, if any (security profile 3). Logs refusals (never the password).
        """
        result = await self._decide(station_id, authorization, tls=tls, name=certificate_name)
        if result.accepted:
            self.counters.accepted += 1
        else:
            self.counters.refused += 1
            log.info("station %s refused at the handshake: %s", station_id, result.refusal)
        return result

    async def _decide(
        self, station_id: str, authorization: str | None, *, tls: bool, name: str | None
    ) -> AuthResult:
        credential = self._credentials.get(station_id)
        if credential is not None and credential.security_profile == 3:
            # The certificate is the credential: verified by TLS, named for the station.
            if not tls:
                return AuthResult(station_id, "tls_required", cached=False)
            if name is None:
                return AuthResult(station_id, "client_certificate_required", cached=False)
            if name != station_id:
                return AuthResult(station_id, "certificate_mismatch", cached=False)
            return AuthResult(station_id, None, cached=False)
        if authorization is None:
            return AuthResult(station_id, "missing_credentials", cached=False)
        parsed = parse_basic_authorization(authorization)
        if parsed is None:
            return AuthResult(station_id, "malformed_credentials", cached=False)
        username, password = parsed
        if username != station_id:  # tells the client nothing it did not send
            return AuthResult(station_id, "username_mismatch", cached=False)
        if credential is not None and credential.security_profile >= 2 and not tls:
            return AuthResult(station_id, "tls_required", cached=False)  # before any KDF
        # An unknown station is checked against an unusable hash: it costs what a wrong
        # password costs, so timing does not tell which stations exist.
        password_hash = credential.password_hash if credential else self._unusable
        checked = await self._check(station_id, password, password_hash)
        if checked is None:
            return AuthResult(station_id, "busy", cached=False)
        matched, cached = checked
        if credential is None:
            return AuthResult(station_id, "unknown_station", cached)
        if not matched:
            return AuthResult(station_id, "wrong_password", cached)
        return AuthResult(station_id, None, cached)

    async def _check(
        self, station_id: str, password: bytes, password_hash: str
    ) -> tuple[bool, bool] | None:
        """(matched, from cache) for ``station_id``'s presented ``password``; None: busy."""
        mark = hmac.new(
            self._secret, station_id.encode() + b"\0" + password, hashlib.sha256
        ).digest()
        known = self._verified.get(station_id)
        if known is not None and hmac.compare_digest(known, mark):
            self.counters.cache_hits += 1
            return True, True
        if mark in self._failed:
            self._failed.move_to_end(mark)
            self.counters.cache_hits += 1
            return False, True
        # One check per (station, password) at a time, run as a task of its own: if the
        # handshake times out meanwhile, the result still lands in the cache, so the
        # station's retry is cheap (a storm converges instead of starting over).
        running = self._running.get(mark)
        if running is None and len(self._running) >= self._max_queued:
            return None  # enough KDF work queued: no task for yet another new pair
        if running is None:
            running = asyncio.create_task(self._run_kdf(station_id, mark, password, password_hash))
            self._running[mark] = running
            running.add_done_callback(lambda _: self._running.pop(mark, None))
        return await asyncio.shield(running), False

    async def _run_kdf(
        self, station_id: str, mark: bytes, password: bytes, password_hash: str
    ) -> bool:
        async with self._slots:
            self.counters.kdf_checks += 1
            matched = await asyncio.to_thread(verify_password, password, password_hash)
        if matched:
            self._verified[station_id] = mark  # the latest good password per station
        else:
            self._failed[mark] = None
            if len(self._failed) > self._failure_cache_size:
                self._failed.popitem(last=False)
        return matched
