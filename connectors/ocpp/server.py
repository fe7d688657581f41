"""The OCPP websocket server: handshakes and connections, a thin shell around the core.

Stations connect to ``ws://HOST:PORT/ocpp/{station_id}`` offering ``ocpp1.6``,
``ocpp2.0.1`` and/or ``ocpp2.1``. Each connection's frames are handled strictly one after
another, in the order they arrived, by ``connectors.ocpp.handler.MessageHandler`` (parse,
publish, then answer; see there).

Security (``connectors.ocpp.security``): with an ``Authenticator``, a station must present
HTTP Basic credentials whose username is the identity in its URL (security profile 1; with
an ``ssl_context``, wss://, profile 2); anything else is answered 401 at the handshake.
``OcppLimits`` bound frame size (1009), message rate per station (reads are delayed, never
dropped), handshake time and open connections (503).

Everything it talks to is injected (STYLE.md rule 12): the publish and dead-letter
coroutines, the site registry, the clock, the id-token key and the transaction-id source.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Final, Self, cast
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.frames import CloseCode
from websockets.headers import build_www_authenticate_basic
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from connectors.ocpp.auth import REALM, Authenticator
from connectors.ocpp.context import OCPP_VERSIONS, OcppVersion
from connectors.ocpp.handler import Clock, Counters, DeadLetterSink, MessageHandler, Publish
from connectors.ocpp.limits import OcppLimits, TokenBucket
from connectors.ocpp.observe import observe_frame
from connectors.ocpp.security import certificate_name
from connectors.ocpp.sessions import Sessions16, StationState
from gridstream.registry import SiteRegistry

log = logging.getLogger(__name__)

#: Close reason sent to a connection that a newer one of the same station replaced.
REPLACED: Final = "replaced by a newer connection of this station"

#: URL path prefix; the rest of the path is the percent-encoded station identity.
PATH_PREFIX: Final = "/ocpp/"
#: OCPP 2.1 Part 4 §3.1: identity at most 48 characters, no ':'.
MAX_STATION_ID: Final = 48


def station_id_from_path(path: str) -> str | None:
    """The station identity in ``/ocpp/{station_id}``, percent-decoded; None if invalid.

    >>> station_id_from_path("/ocpp/RDAM%7C123")
    'RDAM|123'
    >>> station_id_from_path("/ocpp/a/b") is None
    True
    """
    route = urlsplit(path).path
    if not route.startswith(PATH_PREFIX):
        return None
    encoded = route[len(PATH_PREFIX) :]
    if not encoded or "/" in encoded:
        return None
    station_id = unquote(encoded)
    if len(station_id) > MAX_STATION_ID or ":" in station_id or not station_id.isprintable():
        return None
    return station_id


def select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol:
    """The first subprotocol in the client's list that is supported (its preference order).

    Raises ``NegotiationError`` (handshake answered 400) when there is none in common.
    """
    for subprotocol in offered:
        if subprotocol in OCPP_VERSIONS:
            return subprotocol
    raise NegotiationError(f"no supported subprotocol; supported: {', '.join(OCPP_VERSIONS)}")


async def _closed_within(connection: ServerConnection, seconds: float) -> bool:
    """Wait ``seconds``, or less if the connection closes (a server shutdown need not wait)."""
    try:
        await asyncio.wait_for(connection.wait_closed(), seconds)
    except TimeoutError:
        return False
    return True


def bound_port(server: Server | None) -> int:
    """The TCP port a started websockets ``server`` listens on (useful with port 0)."""
    if server is None:
        raise RuntimeError("server not started")
    return int(server.sockets[0].getsockname()[1])


def clock_seeded_ids(now: datetime) -> Iterator[int]:
    """Transaction ids counting up from the seconds since 2020-01-01 at ``now``.

    A restarted server starts above every id it handed out before, unless it gave out more
    than one id per second on average since its previous start. Fits int32 until 2088.
    """
    start = int((now - datetime(2020, 1, 1, tzinfo=UTC)).total_seconds())
    return itertools.count(start)


async def admission(
    connection: ServerConnection,
    request: Request,
    station_id: str,
    limits: OcppLimits,
    server: Server | None,
    authenticator: Authenticator | None,
) -> Response | None:
    """The handshake gate both the connector and the proxy hold: None lets the station in.

    503 (with Retry-After) when ``max_connections`` are open or the password checks are
    all taken (``busy``: no verdict on the credentials); 401 unless authenticated (the same
    answer whatever the reason, so a client learns nothing about which stations exist;
    the authenticator logs the reason).
    """
    limit = limits.max_connections
    if limit is not None and server is not None and len(server.connections) >= limit:
        log.warning("station %s refused: %d connections open (the limit)", station_id, limit)
        response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")
        response.headers["Retry-After"] = "60"
        return response
    if authenticator is None:
        return None
    authorization = request.headers.get_all("Authorization")
    tls = connection.transport.get_extra_info("ssl_object")
    result = await authenticator.authenticate(
        station_id,
        authorization[0] if len(authorization) == 1 else None,
        tls=tls is not None,
        certificate_name=certificate_name(tls),
    )
    if result.accepted:
        return None
    if result.refusal == "busy":
        response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy, retry later\n")
        response.headers["Retry-After"] = "10"
        return response
    response = connection.respond(HTTPStatus.UNAUTHORIZED, "authentication failed\n")
    response.headers["WWW-Authenticate"] = build_www_authenticate_basic(REALM)
    return response


class OcppServer:
    """A running OCPP server: the websockets ``server``, its ``counters`` and ``port``."""

    def __init__(
        self,
        *,
        publish: Publish,
        dead_letter: DeadLetterSink,
        registry: SiteRegistry,
        now: Clock,
        id_token_key: bytes,
        transaction_ids: Iterator[int],
        authenticator: Authenticator | None = None,
        limits: OcppLimits | None = None,
    ) -> None:
        """Hold the injected dependencies; ``serve_ocpp`` builds and starts it."""
        self.authenticator = authenticator
        self.limits = limits if limits is not None else OcppLimits()
        self._buckets: dict[str, TokenBucket] = {}
        self._allocate = transaction_ids.__next__
        self._stations: dict[str, StationState] = {}
        self._connections: dict[str, ServerConnection] = {}
        self._replaced: set[asyncio.Task[None]] = set()  # closes of replaced connections
        self.counters = Counters()
        self._handler = MessageHandler(
            publish=publish,
            dead_letter=dead_letter,
            registry=registry,
            now=now,
            id_token_key=id_token_key,
            counters=self.counters,
        )
        self.server: Server | None = None

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        return bound_port(self.server)

    def close(self) -> None:
        """Stop accepting connections and close the open ones."""
        if self.server is not None:
            self.server.close()

    async def wait_closed(self) -> None:
        """Wait until the server and its connections are closed."""
        if self.server is not None:
            await self.server.wait_closed()

    async def __aenter__(self) -> Self:
        """Use as ``async with await serve_ocpp(...) as server``."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close and wait."""
        self.close()
        await self.wait_closed()

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Handshake gate: 404 for a bad path, 503 when full, 401 unless authenticated.

        Every authentication failure gets the same 401, so a client learns nothing about
        which stations exist; the reason is logged by the authenticator.
        """
        station_id = station_id_from_path(request.path)
        if station_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "expected /ocpp/{station_id}\n")
        refusal = await admission(
            connection, request, station_id, self.limits, self.server, self.authenticator
        )
        if refusal is None:
            return None
        if refusal.status_code == HTTPStatus.UNAUTHORIZED:
            self.counters.auth_refused += 1
        else:
            self.counters.connections_refused += 1
        return refusal

    async def handle_connection(self, connection: ServerConnection) -> None:
        """Serve one station connection; its CALLs are handled strictly one after another.

        Over the station's rate limit, the next frame is handled (and so the one after it
        read) only once the bucket allows it. A station has one connection: a new one
        replaces the one still open (a station that lost its network reconnects before the
        old connection is seen dead), which is closed (1000, "replaced").
        """
        station_id = station_id_from_path(connection.request.path if connection.request else "")
        subprotocol = connection.subprotocol
        if station_id is None or subprotocol not in OCPP_VERSIONS:  # handshake refused it
            return
        version = cast(OcppVersion, subprotocol)
        # Popped and put back: the maps are ordered by when each station was last seen.
        state = self._stations.pop(station_id, None)
        if state is None:
            state = StationState(sessions16=Sessions16(allocate=self._allocate))
        self._stations[station_id] = state
        loop = asyncio.get_running_loop()
        bucket = self._buckets.pop(station_id, None) or self.limits.bucket(loop.time())
        if bucket is not None:
            self._buckets[station_id] = bucket  # per station: a reconnect does not refill it
        previous = self._connections.get(station_id)
        self._connections[station_id] = connection
        if previous is not None:
            self.counters.connections_replaced += 1
            log.info("station %s reconnected: its previous connection is closed", station_id)
            self._replaced.add(
                asyncio.create_task(previous.close(CloseCode.NORMAL_CLOSURE, REPLACED))
            )
            for task in [t for t in self._replaced if t.done()]:
                self._replaced.discard(task)
        log.info("station %s connected (%s)", station_id, version)
        try:
            async for message in connection:
                wait_s = bucket.take(loop.time()) if bucket is not None else 0.0
                if wait_s > 0:
                    self.counters.throttled += 1
                    if await _closed_within(connection, wait_s):
                        break  # unanswered, so the station sends it again: nothing lost
                started = time.perf_counter()  # after the rate wait: that is throttling
                await self._handler.on_message(connection, message, station_id, version, state)
                observe_frame(version, message, time.perf_counter() - started)
        except ConnectionClosed as closed:
            if closed.sent is not None and closed.sent.code == CloseCode.MESSAGE_TOO_BIG:
                self.counters.oversize_closed += 1
                log.warning(
                    "station %s sent a frame over %s bytes (GRIDSTREAM_OCPP_MAX_MESSAGE_BYTES); "
                    "connection closed (1009)",
                    station_id,
                    self.limits.max_message_bytes,
                )
        finally:
            if self._connections.get(station_id) is connection:  # not if replaced meanwhile
                del self._connections[station_id]
            self._forget_beyond_limit()
        log.info("station %s disconnected", station_id)

    def _forget_beyond_limit(self) -> None:
        """Forget the least recently seen stations not connected, beyond ``max_stations``."""
        excess = len(self._stations) - self.limits.max_stations
        if excess <= 0:
            return
        for station_id in [s for s in self._stations if s not in self._connections][:excess]:
            del self._stations[station_id]
            self._buckets.pop(station_id, None)
            self.counters.stations_forgotten += 1


async def serve_ocpp(
    host: str,
    port: int,
    *,
    publish: Publish,
    dead_letter: DeadLetterSink,
    registry: SiteRegistry,
    now: Clock,
    id_token_key: bytes,
    transaction_ids: Iterator[int] | None = None,
    authenticator: Authenticator | None = None,
    ssl_context: ssl.SSLContext | None = None,
    limits: OcppLimits | None = None,
) -> OcppServer:
    """Start the OCPP server on ``host``:``port`` (0 = any free port) and return it.

    ``transaction_ids`` yields the 1.6 transaction ids this CSMS assigns (shared by all
    stations); default ``clock_seeded_ids(now())``. Close with ``close()`` and
    ``wait_closed()``, or use the returned object as an async context manager.

    ``authenticator``: None accepts any station id (security profile 0). ``ssl_context``:
    serve wss:// (needed by profile-2 stations). ``limits``: default ``OcppLimits()``
    (64 KiB frames, 10 s handshakes, no rate or connection limit).
    """
    if now().tzinfo is None:
        raise ValueError("now() must return a timezone-aware datetime (UTC)")
    ocpp = OcppServer(
        publish=publish,
        dead_letter=dead_letter,
        registry=registry,
        now=now,
        id_token_key=id_token_key,
        transaction_ids=transaction_ids if transaction_ids is not None else clock_seeded_ids(now()),
        authenticator=authenticator,
        limits=limits,
    )
    ocpp.server = await serve(
        ocpp.handle_connection,
        host,
        port,
        subprotocols=[Subprotocol(v) for v in OCPP_VERSIONS],
        select_subprotocol=select_subprotocol,
        process_request=ocpp.process_request,
        ssl=ssl_context,
        open_timeout=ocpp.limits.open_timeout_s,
        max_size=ocpp.limits.max_message_bytes,
    )
    return ocpp
