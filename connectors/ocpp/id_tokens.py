"""Pseudonymised id tokens: the one place an idTag / idToken is turned into something storable.

Records never carry an id token in clear (it identifies a driver's card or contract); they
carry ``hash_id_token(token, key)``, a keyed hash that is stable for one key, so sessions of
the same card can still be joined, but cannot be reversed or recomputed without the key.
Raw frames kept for the dead-letter topic go through ``redact_id_tokens`` first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Final

#: Hex characters kept from the HMAC-SHA256 digest (128 bits: collisions are no concern).
HASH_HEX_CHARS: Final = 32

# JSON string members holding an id token: 1.6 idTag / parentIdTag, 2.x IdTokenType.idToken
# (the object member "idToken" is not matched: only a string value is) and
# AdditionalInfoType.additionalIdToken. Matches on the text, so it works on broken JSON too.
_TOKEN_MEMBER: Final = re.compile(
    r'("(?:idTag|parentIdTag|idToken|additionalIdToken)"\s*:\s*)"((?:[^"\\]|\\.)*)"'
)


def hash_id_token(token: str, key: bytes) -> str:
    """Keyed hash of an id token: HMAC-SHA256 over the case-folded token, first 32 hex chars.

    Case-folded because OCPP id tokens are case-insensitive (1.6 CiString20, 2.x "case
    insensitive"): ``04a1b2`` and ``04A1B2`` are the same card and get the same hash.

    >>> hash_id_token("SOMERFID", b"k") == hash_id_token("somerfid", b"k")
    True
    >>> len(hash_id_token("SOMERFID", b"k"))
    32
    """
    if not key:
        raise ValueError("the id-token hash key must not be empty")
    digest = hmac.new(key, token.casefold().encode(), hashlib.sha256).hexdigest()
    return digest[:HASH_HEX_CHARS]


def redact_id_tokens(raw: str, key: bytes) -> str:
    """``raw`` frame text with every id-token string value replaced by ``hmac:<hash>``.

    Everything else stays byte-for-byte as received, so the dead-letter copy still shows
    what the station sent.

    >>> redact_id_tokens('{"idTag": "ABC"}', b"k") == '{"idTag": "hmac:%s"}' % hash_id_token(
    ...     "ABC", b"k")
    True
    """

    def replace(match: re.Match[str]) -> str:
        try:
            token = json.loads(f'"{match.group(2)}"')
        except json.JSONDecodeError:
            token = match.group(2)
        return f'{match.group(1)}"hmac:{hash_id_token(token, key)}"'

    return _TOKEN_MEMBER.sub(replace, raw)
