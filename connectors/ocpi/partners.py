"""OCPI partners: who may push to gridstream, with which token, for which parties.

A partner is provisioned out of band (``gridstream ocpi partner add``): it gets a
CREDENTIALS_TOKEN_A, good only for ``versions`` and ``credentials``. Registering (POST
credentials) swaps it for token C, good for every module; the partner's own token B and
versions URL are kept for calls to it. Each partner owns the parties (country code, party
id) it was provisioned with and those its credentials' ``roles`` name; it may write only
their objects.

The file (JSON, mode 0600) keeps a SHA-256 of tokens A and C, never the tokens: they are
256-bit random strings, so a plain hash suffices (no password stretching needed). Token B
is the partner's, needed in clear to call it.

``Authorization: Token <base64(token)>`` (2.2.1 and later) is read by trial, also raw
(2.1.1 peers) and with the trailing newline the official examples encode (PROTOCOLS.md §5).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from connectors.ocpi.wire import PartyRef

Stage = Literal["A", "C"]
"""Which token a request carried: A (before registration) or C (registered)."""

ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")


def token_hash(token: str) -> str:
    """SHA-256 hex of a token, as the partners file keeps it."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (43 URL-safe characters; OCPI allows 64)."""
    return secrets.token_urlsafe(32)


def token_candidates(header: str | None) -> list[str]:
    """The tokens an ``Authorization`` header may carry, most likely first.

    >>> token_candidates("Token ZXhhbXBsZS10b2tlbgo=")
    ['example-token', 'ZXhhbXBsZS10b2tlbgo=']
    >>> token_candidates("Token abc-123")
    ['abc-123']
    >>> token_candidates("Basic abc")
    []
    """
    if header is None:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    out: list[str] = []
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8").rstrip("\r\n")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if decoded and decoded.isprintable():
        out.append(decoded)
    out.append(value)
    return out


@dataclass(frozen=True)
class Partner:
    """One provisioned partner and its registration."""

    country_code: str
    party_id: str
    role: str
    token_a_hash: str | None
    token_c_hash: str | None = None
    token_b: str | None = None
    versions_url: str | None = None
    version: str | None = None
    #: Further parties its credentials named, as ``CC*PID``.
    parties: tuple[str, ...] = field(default_factory=tuple)

    @property
    def party(self) -> PartyRef:
        """The party it was provisioned for."""
        return PartyRef(self.country_code, self.party_id)

    @property
    def registered(self) -> bool:
        """Whether it completed the credentials handshake."""
        return self.token_c_hash is not None

    def owns(self, party: PartyRef) -> bool:
        """Whether ``party``'s objects are this partner's to write."""
        return party == self.party or str(party) in self.parties


class PartnerStore:
    """The partners file: load, look up by token, change and save (atomically)."""

    def __init__(self, path: Path) -> None:
        """Read ``path`` if it exists (else start empty)."""
        self.path = path
        self._partners: dict[str, Partner] = {}
        self._mtime = -1
        if path.exists():
            self._load()

    def _load(self) -> None:
        self._mtime = self.path.stat().st_mtime_ns
        partners: dict[str, Partner] = {}
        for raw in json.loads(self.path.read_text()):
            raw["parties"] = tuple(raw.get("parties", ()))
            partner = Partner(**raw)
            partners[str(partner.party)] = partner
        self._partners = partners

    def partners(self) -> list[Partner]:
        """Every partner, in the order added."""
        return list(self._partners.values())

    def save(self) -> None:
        """Write the file (0600), replacing it atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump([asdict(p) for p in self._partners.values()], out, indent=1)
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime_ns

    def add(self, party: PartyRef, role: str, *, replace_token: bool = False) -> str:
        """Provision ``party`` and return its token A; ``ValueError`` if it exists."""
        key = str(party)
        if key in self._partners and not replace_token:
            raise ValueError(f"partner {key} exists (pass --replace for a new token A)")
        token = new_token()
        self._partners[key] = Partner(party.country_code, party.party_id, role, token_hash(token))
        self.save()
        return token

    def remove(self, party: PartyRef) -> bool:
        """Forget ``party``'s partner; False if there was none."""
        if self._partners.pop(str(party), None) is None:
            return False
        self.save()
        return True

    def _reload_if_changed(self) -> None:
        # ``gridstream ocpi partner add`` writes the file while the receiver runs.
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime != self._mtime:
            self._load()

    def authenticate(self, header: str | None) -> tuple[Partner, Stage] | None:
        """The partner and token stage an ``Authorization`` header belongs to, or None."""
        self._reload_if_changed()
        for candidate in token_candidates(header):
            digest = token_hash(candidate)
            for partner in self._partners.values():
                if partner.token_c_hash is not None and secrets.compare_digest(
                    partner.token_c_hash, digest
                ):
                    return partner, "C"
                if partner.token_a_hash is not None and secrets.compare_digest(
                    partner.token_a_hash, digest
                ):
                    return partner, "A"
        return None

    def register(
        self,
        partner: Partner,
        *,
        token_b: str,
        versions_url: str,
        version: str,
        parties: tuple[str, ...],
    ) -> str:
        """Complete (or update) a registration; return the new token C (A stops working)."""
        token_c = new_token()
        self._partners[str(partner.party)] = replace(
            partner,
            token_a_hash=None,
            token_c_hash=token_hash(token_c),
            token_b=token_b,
            versions_url=versions_url,
            version=version,
            parties=parties,
        )
        self.save()
        return token_c

    def unregister(self, partner: Partner) -> None:
        """Forget the registration: token C stops working (a new token A is needed)."""
        self._partners[str(partner.party)] = replace(
            partner, token_c_hash=None, token_b=None, versions_url=None, version=None, parties=()
        )
        self.save()
