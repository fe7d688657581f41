"""Versions, version details and the credentials handshake (OCPI 2.2.1 credentials.asciidoc).

The documents gridstream serves and the reading of a partner's Credentials object; pure.
The shell (``connectors.ocpi.app``) GETs the partner's versions with its token B
(``PeerClient``) and stores the registration (``connectors.ocpi.partners``).

gridstream implements the *receiver* interfaces of sessions, cdrs and locations for 2.2.1
and 2.3.0 (the parts these modules share with 2.2.1), credentials, and the *sender*
interface of chargingprofiles (as OCPI names the SCSP/eMSP side: the CPO PUTs active
profiles and POSTs results to it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from connectors.ocpi.partners import ROLES
from connectors.ocpi.wire import VERSIONS, WireError, objects, string

#: Modules gridstream receives, per version (identifier, role).
MODULES: Final = (
    ("credentials", "RECEIVER"),
    ("sessions", "RECEIVER"),
    ("cdrs", "RECEIVER"),
    ("locations", "RECEIVER"),
    ("chargingprofiles", "SENDER"),
)


def versions_data(base_url: str) -> list[dict[str, str]]:
    """``data`` of GET versions: every supported version and its details URL.

    >>> versions_data("http://127.0.0.1:9001/ocpi")[0]
    {'version': '2.2.1', 'url': 'http://127.0.0.1:9001/ocpi/2.2.1'}
    """
    return [{"version": v, "url": f"{base_url}/{v}"} for v in VERSIONS]


def version_details(version: str, base_url: str) -> dict[str, Any]:
    """``data`` of GET version details: the endpoints of ``version``."""
    return {
        "version": version,
        "endpoints": [
            {"identifier": ident, "role": role, "url": f"{base_url}/{version}/{ident}"}
            for ident, role in MODULES
        ],
    }


@dataclass(frozen=True)
class Credentials:
    """A partner's Credentials object, read."""

    token: str
    url: str
    #: Its roles' parties as ``CC*PID``, and their roles.
    parties: tuple[str, ...]
    roles: tuple[str, ...]


def read_credentials(body: object) -> Credentials:
    """Read a Credentials object; ``WireError`` names what is wrong."""
    if not isinstance(body, Mapping):
        raise WireError("credentials: expected a JSON object")
    token = string(body, "token", "credentials", max_len=64)
    url = string(body, "url", "credentials")
    if not url.startswith(("http://", "https://")):
        raise WireError(f"credentials.url: expected an http(s) URL, got {url!r}")
    roles = objects(body.get("roles"), "credentials.roles")
    if not roles:
        raise WireError("credentials.roles: at least one role is required")
    parties: list[str] = []
    names: list[str] = []
    for k, role in enumerate(roles):
        where = f"credentials.roles[{k}]"
        name = string(role, "role", where)
        if name not in ROLES:
            raise WireError(f"{where}.role: {name!r} is not one of {', '.join(ROLES)}")
        cc = string(role, "country_code", where, max_len=2)
        pid = string(role, "party_id", where, max_len=3)
        parties.append(f"{cc}*{pid}")
        names.append(name)
    return Credentials(token, url, tuple(parties), tuple(names))


def our_credentials(
    token_c: str, base_url: str, country_code: str, party_id: str
) -> dict[str, Any]:
    """Gridstream's Credentials object, answered to a registration (token C in clear)."""
    return {
        "token": token_c,
        "url": f"{base_url}/versions",
        "roles": [
            {
                "role": "OTHER",
                "country_code": country_code,
                "party_id": party_id,
                "business_details": {"name": "gridstream"},
            }
        ],
    }


def common_version(theirs: Sequence[Mapping[str, Any]]) -> str | None:
    """The highest version both sides speak, from the partner's versions ``data``.

    >>> common_version([{"version": "2.1.1", "url": "u"}, {"version": "2.2.1", "url": "v"}])
    '2.2.1'
    >>> common_version([{"version": "2.1.1", "url": "u"}]) is None
    True
    """
    spoken = {v.get("version") for v in theirs if isinstance(v.get("version"), str)}
    for version in reversed(VERSIONS):
        if version in spoken:
            return version
    return None


class PeerClient(Protocol):
    """GETs a partner's versions list with its token B (injected; httpx in production)."""

    async def __call__(self, url: str, token_b: str, /) -> Sequence[Mapping[str, Any]]:
        """The ``data`` of the partner's versions endpoint; raises if it cannot be had."""
        ...
