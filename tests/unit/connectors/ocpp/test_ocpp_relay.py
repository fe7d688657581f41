"""Proxy mode, relay rules: CSMS address, handshake refusals, close codes (pure)."""

from __future__ import annotations

import doctest
from http import HTTPStatus

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus, InvalidUpgrade
from websockets.frames import Close
from websockets.http11 import Response

from connectors.ocpp import relay
from connectors.ocpp.relay import close_to_forward, handshake_refusal, upstream_url_for


def test_docstring_examples_run() -> None:
    failed, attempted = doctest.testmod(relay, verbose=False)
    assert attempted > 0
    assert failed == 0


@pytest.mark.parametrize(
    ("base", "station_id", "expected"),
    [
        ("ws://csms:9000/ocpp", "CS-1", "ws://csms:9000/ocpp/CS-1"),
        ("wss://csms/ocpp/", "CS-1", "wss://csms/ocpp/CS-1"),  # no double slash
        ("ws://csms/ocpp", "a b/c", "ws://csms/ocpp/a%20b%2Fc"),  # one path segment
    ],
)
def test_the_csms_address_ends_with_the_percent_encoded_identity(
    base: str, station_id: str, expected: str
) -> None:
    assert upstream_url_for(base, station_id) == expected


def refused_with(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "refused", Headers()))


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (refused_with(401), HTTPStatus.UNAUTHORIZED),  # the CSMS's verdict on the password
        (refused_with(404), HTTPStatus.NOT_FOUND),  # a station the CSMS does not know
        (refused_with(500), HTTPStatus.BAD_GATEWAY),  # the CSMS failed
        (InvalidUpgrade("Upgrade", "h2c"), HTTPStatus.BAD_GATEWAY),  # not a websocket server
        (ConnectionRefusedError(111, "refused"), HTTPStatus.SERVICE_UNAVAILABLE),  # down
        (TimeoutError(), HTTPStatus.SERVICE_UNAVAILABLE),  # unreachable
    ],
)
def test_a_station_is_refused_with_a_status_that_says_whose_fault(
    exc: Exception, status: HTTPStatus
) -> None:
    assert handshake_refusal(exc) == status


@pytest.mark.parametrize(
    ("rcvd", "forwarded"),
    [
        (Close(1000, ""), (1000, "")),
        (Close(1001, "bye"), (1001, "bye")),
        (Close(4001, "app"), (4001, "app")),  # application codes pass as they are
        (Close(1005, ""), (1000, "")),  # no code in the frame: 1005 cannot be sent
        (None, None),  # dropped without a close frame: drop the other side too
    ],
)
def test_the_other_side_is_closed_with_the_same_code(
    rcvd: Close | None, forwarded: tuple[int, str] | None
) -> None:
    assert close_to_forward(rcvd) == forwarded
