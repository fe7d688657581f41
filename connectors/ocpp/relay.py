"""How the proxy relays one station connection: CSMS address, refusals, close codes (pure).

The rules ``connectors.ocpp.proxy`` applies at the edges of a relayed connection, apart
from the shell so that each is a plain function with its cases in a table-driven test.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import quote

from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.frames import EXTERNAL_CLOSE_CODES, Close, CloseCode


def upstream_url_for(upstream_url: str, station_id: str) -> str:
    """The CSMS endpoint of ``station_id``: ``{upstream_url}/{percent-encoded id}``.

    >>> upstream_url_for("wss://csms.example/ocpp/", "RDAM|123")
    'wss://csms.example/ocpp/RDAM%7C123'
    """
    return f"{upstream_url.rstrip('/')}/{quote(station_id, safe='')}"


def handshake_refusal(exc: Exception) -> HTTPStatus:
    """The status that refuses a station when opening its CSMS connection raised ``exc``.

    The CSMS's own 4xx (401 wrong password, 403, 404 unknown station) is passed on, so
    the station learns what its CSMS said; any other refusal or a broken handshake is a
    502 (bad gateway); a CSMS that cannot be reached (refused, timed out, no such host)
    a 503 (the station retries).
    """
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if 400 <= status < 500:
            return HTTPStatus(status)
        return HTTPStatus.BAD_GATEWAY
    if isinstance(exc, InvalidHandshake):
        return HTTPStatus.BAD_GATEWAY
    return HTTPStatus.SERVICE_UNAVAILABLE


def close_to_forward(rcvd: Close | None) -> tuple[int, str] | None:
    """Code and reason to close the other side with, when one side closed with ``rcvd``.

    None: the side dropped without a close frame (1006), which is mirrored by dropping
    the other side too. A close frame without a code (1005, which cannot be sent) becomes
    1000, which means the same.

    >>> close_to_forward(Close(4001, "bye")), close_to_forward(Close(1005, ""))
    ((4001, 'bye'), (1000, ''))
    """
    if rcvd is None:
        return None
    if rcvd.code in EXTERNAL_CLOSE_CODES or 3000 <= rcvd.code < 5000:
        return rcvd.code, rcvd.reason
    return int(CloseCode.NORMAL_CLOSURE), ""
