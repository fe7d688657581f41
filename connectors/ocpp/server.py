"""The OCPP websocket server: a thin shell around ``connectors.ocpp.parse``.

Stations connect to ``ws://HOST:PORT/ocpp/{station_id}`` offering ``ocpp1.6``,
``ocpp2.0.1`` and/or ``ocpp2.1``. For every CALL, in the order it arrived on its
connection:

1. ``parse_frame`` and ``handle_call`` (pure);
2. accepted: ``await publish(records)``, which returns only once the broker acknowledged,
   THEN the CALLRESULT. If publishing raises, the station gets CALLERROR InternalError and
   nothing is claimed (it will retry);
3. rejected: ``await dead_letter(DeadLetter(...))`` with the raw frame (id tokens
   redacted), then the CALLERROR, if the frame can be answered at all.

Everything it talks to is injected (STYLE.md rule 12): the publish and dead-letter
coroutines, the site registry, the clock, the id-token key and the transaction-id source.
No authentication yet (security profiles 1-3, PROTOCOLS.md §1): the URL is the identity.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Final, Protocol, Self, TypeAlias, cast
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from connectors.ocpp.context import OCPP_VERSIONS, CallContext, OcppVersion
from connectors.ocpp.id_tokens import redact_id_tokens
from connectors.ocpp.parse import (
    Accepted,
    CallFrame,
    Ignored,
    Rejected,
    boot_identity,
    call_error_frame,
    call_result_frame,
    error_code,
    handle_call,
    parse_frame,
)
from connectors.ocpp.sessions import Sessions16, StationState
from gridstream.records import DeadLetter, Record
from gridstream.registry import SiteRegistry

log = logging.getLogger(__name__)

#: URL path prefix; the rest of the path is the percent-encoded station identity.
PATH_PREFIX: Final = "/ocpp/"
#: OCPP 2.1 Part 4 §3.1: identity at most 48 characters, no ':'.
MAX_STATION_ID: Final = 48
#: Dead-letter reason for a bug in the connector (not in ``REASONS`` yet).
INTERNAL_ERROR_REASON: Final = "internal_error"

Clock: TypeAlias = Callable[[], datetime]
"""Returns the current time, timezone-aware (UTC)."""


class Publish(Protocol):
    """Produce records to their topics; return only after the broker acknowledged them all.

    Raises on failure (broker down, timeout); the connector then answers InternalError.
    """

    async def __call__(self, records: Sequence[Record], /) -> None:
        """Produce ``records`` and wait for the acknowledgement."""
        ...


class DeadLetterSink(Protocol):
    """Send one dead letter to the ``dlq`` topic and wait for the acknowledgement."""

    async def __call__(self, letter: DeadLetter, /) -> None:
        """Produce ``letter``."""
        ...


@dataclass
class Counters:
    """Message counts for the run summary (one server, all connections)."""

    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    publish_failed: int = 0
    internal_errors: int = 0
    dead_letter_failed: int = 0


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


def _process_request(connection: ServerConnection, request: Request) -> Response | None:
    if station_id_from_path(request.path) is None:
        return connection.respond(HTTPStatus.NOT_FOUND, "expected /ocpp/{station_id}\n")
    return None


def clock_seeded_ids(now: datetime) -> Iterator[int]:
    """Transaction ids counting up from the seconds since 2020-01-01 at ``now``.

    A restarted server starts above every id it handed out before, unless it gave out more
    than one id per second on average since its previous start. Fits int32 until 2088.
    """
    start = int((now - datetime(2020, 1, 1, tzinfo=UTC)).total_seconds())
    return itertools.count(start)


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
    ) -> None:
        """Hold the injected dependencies; ``serve_ocpp`` builds and starts it."""
        if not id_token_key:
            raise ValueError("id_token_key must not be empty")
        self._publish = publish
        self._dead_letter = dead_letter
        self._registry = registry
        self._now = now
        self._id_token_key = id_token_key
        self._allocate = transaction_ids.__next__
        self._stations: dict[str, StationState] = {}
        self.counters = Counters()
        self.server: Server | None = None

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        if self.server is None:
            raise RuntimeError("server not started")
        return int(self.server.sockets[0].getsockname()[1])

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

    async def handle_connection(self, connection: ServerConnection) -> None:
        """Serve one station connection; its CALLs are handled strictly one after another."""
        station_id = station_id_from_path(connection.request.path if connection.request else "")
        subprotocol = connection.subprotocol
        if station_id is None or subprotocol not in OCPP_VERSIONS:  # handshake refused it
            return
        version = cast(OcppVersion, subprotocol)
        state = self._stations.get(station_id)
        if state is None:
            state = StationState(sessions16=Sessions16(allocate=self._allocate))
            self._stations[station_id] = state
        log.info("station %s connected (%s)", station_id, version)
        try:
            async for message in connection:
                await self._on_message(connection, message, station_id, version, state)
        except ConnectionClosed:
            pass
        log.info("station %s disconnected", station_id)

    async def _on_message(
        self,
        connection: ServerConnection,
        message: str | bytes,
        station_id: str,
        version: OcppVersion,
        state: StationState,
    ) -> None:
        received_at = self._now()
        # OCPP-J uses text frames; a binary one is read as UTF-8 rather than refused.
        raw = message if isinstance(message, str) else message.decode("utf-8", "replace")
        try:
            parsed = parse_frame(raw, version)
        except Exception:  # a bug: nothing to answer, but keep the frame and the connection
            log.exception("station %s: parsing a frame failed", station_id)
            self.counters.internal_errors += 1
            bug = Rejected(INTERNAL_ERROR_REASON, "internal error parsing a frame", raw, None)
            await self._reject(connection, bug, station_id, version, received_at, count=False)
            return
        if isinstance(parsed, Ignored):
            self.counters.ignored += 1
            log.warning("station %s: %s", station_id, parsed.detail)
            return
        if isinstance(parsed, Rejected):
            await self._reject(connection, parsed, station_id, version, received_at)
            return
        try:
            ctx = CallContext(
                station_id=station_id,
                site_id=self._registry.site_of(station_id),
                message_id=parsed.message_id,
                now=received_at,
                source=version,
                id_token_key=self._id_token_key,
                station=state,
            )
            result = handle_call(parsed, ctx)
        except Exception:  # a bug: still answer, keep the frame, keep the connection
            log.exception("station %s: handling %s failed", station_id, parsed.action)
            self.counters.internal_errors += 1
            bug = Rejected(
                INTERNAL_ERROR_REASON,
                f"internal error handling {parsed.action}",
                raw,
                "InternalError",
                parsed.message_id,
            )
            await self._reject(connection, bug, station_id, version, received_at, count=False)
            return
        if isinstance(result, Rejected):
            await self._reject(connection, result, station_id, version, received_at)
            return
        await self._accept(connection, parsed, result, station_id, version)

    async def _accept(
        self,
        connection: ServerConnection,
        frame: CallFrame,
        result: Accepted,
        station_id: str,
        version: OcppVersion,
    ) -> None:
        if result.records:  # Heartbeat and friends need no broker round trip
            try:
                await self._publish(result.records)
            except Exception:
                log.exception("station %s: publishing %s failed", station_id, frame.action)
                self.counters.publish_failed += 1
                code = error_code("broker_unavailable", version)
                detail = "records not stored; retry later"
                await connection.send(call_error_frame(frame.message_id, code, detail))
                return
        if frame.action == "BootNotification":
            vendor, model, serial = boot_identity(version, frame.payload)
            log.info(
                "station %s booted: vendor=%s model=%s serial=%s", station_id, vendor, model, serial
            )
        self.counters.accepted += 1
        await connection.send(call_result_frame(frame.message_id, result.response))

    async def _reject(
        self,
        connection: ServerConnection,
        rejected: Rejected,
        station_id: str,
        version: OcppVersion,
        received_at: datetime,
        *,
        count: bool = True,
    ) -> None:
        if count:
            self.counters.rejected += 1
        letter = DeadLetter(
            source=version,
            reason=rejected.reason_code,
            detail=rejected.detail,
            raw=redact_id_tokens(rejected.raw, self._id_token_key),
            received_at=received_at,
            station_id=station_id,
            message_id=rejected.message_id,
        )
        # Keep the frame before answering, as accepted records are stored before the answer.
        try:
            await self._dead_letter(letter)
        except Exception:
            log.exception("station %s: dead-lettering failed", station_id)
            self.counters.dead_letter_failed += 1
        log.info("station %s: rejected (%s) %s", station_id, rejected.reason_code, rejected.detail)
        frame = rejected.error_frame()
        if frame is not None:
            await connection.send(frame)


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
) -> OcppServer:
    """Start the OCPP server on ``host``:``port`` (0 = any free port) and return it.

    ``transaction_ids`` yields the 1.6 transaction ids this CSMS assigns (shared by all
    stations); default ``clock_seeded_ids(now())``. Close with ``close()`` and
    ``wait_closed()``, or use the returned object as an async context manager.
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
    )
    ocpp.server = await serve(
        ocpp.handle_connection,
        host,
        port,
        subprotocols=[Subprotocol(v) for v in OCPP_VERSIONS],
        select_subprotocol=select_subprotocol,
        process_request=_process_request,
    )
    return ocpp
