"""Proxy mode: gridstream between OCPP stations and an existing CSMS, tapping the meter data.

Stations connect to ``ws://HOST:PORT/ocpp/{station_id}`` as they would to their CSMS. For
each one the proxy:

1. opens ``{upstream_url}/{station_id}`` (identity percent-encoded) first, offering the
   station's subprotocols in the station's order and passing its ``Authorization`` header
   unchanged (the CSMS authenticates its stations; the proxy does not). Only then does it
   accept the station, with the subprotocol the CSMS chose. A CSMS that refuses with a 4xx
   status (401 wrong password, 404 unknown station) passes that status on; one that fails
   otherwise gets the station a 502, one that cannot be reached a 503: the station retries.
2. forwards every frame both ways unchanged (same text, ids and order), the CSMS's own
   CALLs (RemoteStartTransaction, SetChargingProfile, ...) and their answers included.
   Each direction is one loop: a frame is sent on only after the one before it.
3. taps (``connectors.ocpp.tap``): a station CALL is read when the CSMS's CALLRESULT for
   it comes back, and its records are published before that CALLRESULT goes on to the
   station. A CALLERROR taps nothing. Frames the core rejects are dead-lettered with the
   reason, and forwarded all the same.
4. closes the other side when one side closes, with the same code and reason (a dropped
   connection is mirrored by dropping the other one after flushing what was sent).

If publishing fails (or takes longer than ``publish_timeout_s``), the station still gets
the CSMS's answer: the CSMS is the system of record and must not be disturbed by our
broker. The lost tap is counted (``publish_failed``), logged and dead-lettered with the
station's raw frame (reason ``broker_unavailable``) for replay. ``publish`` is expected to
spool locally, so this should be rare. The tap never changes what either side sees.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Final, Self, cast
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidHeader,
    InvalidStatus,
    NegotiationError,
)
from websockets.frames import Close, CloseCode
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Data, Subprotocol

from connectors.ocpp.auth import Authenticator
from connectors.ocpp.context import OCPP_VERSIONS, OcppVersion
from connectors.ocpp.handler import INTERNAL_ERROR_REASON, Clock, DeadLetterSink, Publish
from connectors.ocpp.id_tokens import redact_id_tokens
from connectors.ocpp.limits import OcppLimits
from connectors.ocpp.observe import count_frame, observe_answer
from connectors.ocpp.parse import Rejected
from connectors.ocpp.relay import close_to_forward, handshake_refusal, upstream_url_for
from connectors.ocpp.replays import Replay
from connectors.ocpp.server import admission, bound_port, station_id_from_path
from connectors.ocpp.tap import CsmsAnswer, StationTap, Tapped, TappedStation
from gridstream.records import DeadLetter
from gridstream.registry import SiteRegistry

log = logging.getLogger(__name__)

#: Seconds to open the CSMS connection; below the station-side handshake timeout (10 s).
UPSTREAM_OPEN_TIMEOUT_S: Final = 5.0
#: Seconds the tap may take to publish one CALL's records before the answer goes on anyway.
PUBLISH_TIMEOUT_S: Final = 10.0


@dataclass
class ProxyCounters:
    """Counts of one proxy (all connections), for the run summary.

    ``accepted``: station CALLs the CSMS accepted and the core read (records published).
    ``duplicates``: accepted CALLs the station had delivered before (nothing published);
    ``duplicate_records``: samples and events left out of accepted CALLs as delivered
    before.
    ``rejected``: frames the core could not read, dead-lettered (and forwarded).
    ``ignored``: CALLs the CSMS accepted that carry no meter data (Authorize, ...).
    ``refused_by_csms``: CALLs the CSMS answered with a CALLERROR (nothing tapped).
    ``unanswered``: CALLs the CSMS never answered while the connection lasted.
    ``publish_failed``: taps lost because the broker did not acknowledge in time (the
    station got the CSMS's answer; the frame went to the dead-letter topic).
    ``handshakes_refused``: station connections refused because the CSMS refused them or
    could not be reached, because ``max_connections`` were open, or (with an
    authenticator) before any CSMS connection because their credentials were wrong.
    ``throttled``: frames forwarded late because the station went over its message rate.
    """

    accepted: int = 0
    duplicates: int = 0
    duplicate_records: int = 0
    rejected: int = 0
    ignored: int = 0
    refused_by_csms: int = 0
    unanswered: int = 0
    publish_failed: int = 0
    internal_errors: int = 0
    dead_letter_failed: int = 0
    handshakes_refused: int = 0
    throttled: int = 0


def _text(message: Data) -> str:
    # OCPP-J uses text frames; a binary one is read as UTF-8 (and forwarded as it came).
    return message if isinstance(message, str) else bytes(message).decode("utf-8", "replace")


async def _close_like(connection: Connection, rcvd: Close | None) -> None:
    forward = close_to_forward(rcvd)
    if forward is None:
        connection.transport.close()  # flushes what was sent, then drops: the peer sees 1006
    else:
        await connection.close(*forward)


class OcppProxy:
    """A running proxy: the websockets ``server``, its ``counters`` and ``port``."""

    def __init__(
        self,
        *,
        upstream_url: str,
        publish: Publish,
        dead_letter: DeadLetterSink,
        registry: SiteRegistry,
        now: Clock,
        id_token_key: bytes,
        upstream_open_timeout_s: float = UPSTREAM_OPEN_TIMEOUT_S,
        publish_timeout_s: float = PUBLISH_TIMEOUT_S,
        limits: OcppLimits | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        """Hold the injected dependencies; ``serve_ocpp_proxy`` builds and starts it.

        ``limits``: the connector's bounds (frame size, message rate, connections, stations
        remembered) hold in front of the CSMS too. ``authenticator``: stations are checked
        here before a CSMS connection is opened for them (the CSMS checks them again), so
        that an unauthenticated client cannot make the proxy open connections to the CSMS.
        """
        if urlsplit(upstream_url).scheme not in ("ws", "wss"):
            raise ValueError(f"upstream_url must be a ws:// or wss:// URL, not {upstream_url!r}")
        if not id_token_key:
            raise ValueError("id_token_key must not be empty")
        self._upstream_url = upstream_url
        self._publish = publish
        self._dead_letter = dead_letter
        self._registry = registry
        self._now = now
        self._id_token_key = id_token_key
        self._open_timeout_s = upstream_open_timeout_s
        self._publish_timeout_s = publish_timeout_s
        self.limits = limits if limits is not None else OcppLimits()
        self._authenticator = authenticator
        self._stations: dict[str, TappedStation] = {}
        self._connected: dict[str, int] = {}  # station -> its open connections
        # CSMS connections opened for a station whose handshake is not finished yet.
        self._handshaking: dict[ServerConnection, ClientConnection] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.counters = ProxyCounters()
        self.server: Server | None = None

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        return bound_port(self.server)

    def close(self) -> None:
        """Stop accepting stations and close every connection (each CSMS side with 1001)."""
        if self.server is not None:
            self.server.close()
        for upstream in self._handshaking.values():
            self._close_later(upstream)
        self._handshaking.clear()

    async def wait_closed(self) -> None:
        """Wait until the server and all its connections, both sides, are closed."""
        if self.server is not None:
            await self.server.wait_closed()
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def __aenter__(self) -> Self:
        """Use as ``async with await serve_ocpp_proxy(...) as proxy``."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close and wait."""
        self.close()
        await self.wait_closed()

    def _close_later(self, upstream: ClientConnection) -> None:
        task = asyncio.create_task(upstream.close(CloseCode.GOING_AWAY))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Open the station's CSMS connection, or refuse the station's handshake."""
        station_id = station_id_from_path(request.path)
        if station_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "expected /ocpp/{station_id}\n")
        try:
            offered = [
                subprotocol
                for header in request.headers.get_all("Sec-WebSocket-Protocol")
                for subprotocol in parse_subprotocol(header)
            ]
        except InvalidHeader:
            return connection.respond(HTTPStatus.BAD_REQUEST, "bad Sec-WebSocket-Protocol\n")
        if not offered:
            return connection.respond(HTTPStatus.BAD_REQUEST, "no OCPP subprotocol offered\n")
        # Before any CSMS connection is opened: a stranger costs the CSMS nothing.
        refusal = await admission(
            connection, request, station_id, self.limits, self.server, self._authenticator
        )
        if refusal is not None:
            self.counters.handshakes_refused += 1
            return refusal
        url = upstream_url_for(self._upstream_url, station_id)
        credentials = [("Authorization", v) for v in request.headers.get_all("Authorization")]
        try:
            upstream = await connect(
                url,
                subprotocols=offered,
                additional_headers=credentials,
                open_timeout=self._open_timeout_s,
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            self.counters.handshakes_refused += 1
            status = handshake_refusal(exc)
            log.warning("station %s refused (%d): CSMS %s: %s", station_id, status, url, exc)
            response = connection.respond(status, f"CSMS: {status.phrase}\n")
            if isinstance(exc, InvalidStatus) and "WWW-Authenticate" in exc.response.headers:
                response.headers["WWW-Authenticate"] = exc.response.headers["WWW-Authenticate"]
            return response
        if upstream.subprotocol is None:  # OCPP-J: the CSMS must pick one of the station's
            self.counters.handshakes_refused += 1
            self._close_later(upstream)
            log.warning("station %s refused: CSMS %s chose no subprotocol", station_id, url)
            return connection.respond(HTTPStatus.BAD_GATEWAY, "CSMS chose no subprotocol\n")
        self._handshaking[connection] = upstream
        return None

    def select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol:
        """The subprotocol the CSMS chose from the same offer."""
        upstream = self._handshaking.get(connection)
        if upstream is None or upstream.subprotocol is None:
            raise NegotiationError("no CSMS connection for this handshake")
        return upstream.subprotocol

    def process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        """Close the CSMS connection of a station handshake that is not going to open.

        Runs just before websockets sends ``response``, which it replaces by a 503 when the
        server is closing and skips when the station already left.
        """
        opening = (
            response.status_code == HTTPStatus.SWITCHING_PROTOCOLS
            and connection.state is State.CONNECTING
            and self.server is not None
            and self.server.is_serving()
        )
        if not opening:
            upstream = self._handshaking.pop(connection, None)
            if upstream is not None:
                self._close_later(upstream)

    async def handle_connection(self, station: ServerConnection) -> None:
        """Relay one station connection and its CSMS connection until both are closed."""
        upstream = self._handshaking.pop(station, None)
        station_id = station_id_from_path(station.request.path if station.request else "")
        if upstream is None or station_id is None:  # cannot happen: the handshake checked
            return
        subprotocol = station.subprotocol
        tap: StationTap | None = None
        self._connected[station_id] = self._connected.get(station_id, 0) + 1
        if subprotocol in OCPP_VERSIONS:
            # Popped and put back: the map is ordered by when each station was last seen.
            tapped = self._stations.pop(station_id, None) or TappedStation()
            self._stations[station_id] = tapped
            version = cast(OcppVersion, subprotocol)
            tap = StationTap(station_id, version, tapped, self._id_token_key)
        else:
            log.warning("station %s speaks %s: forwarded, not tapped", station_id, subprotocol)
        log.info("station %s connected through the proxy (%s)", station_id, subprotocol)
        to_station = asyncio.create_task(
            self._csms_to_station(upstream, station, tap), name=f"proxy:{station_id}"
        )
        try:
            await self._station_to_csms(station, upstream, tap)
            await to_station
        finally:
            if not to_station.done():  # cancelled or a bug: do not leave the CSMS side behind
                to_station.cancel()
            if upstream.state is not State.CLOSED:
                self._close_later(upstream)
            if tap is not None:
                self.counters.unanswered += tap.close()
            self._connected[station_id] -= 1
            if not self._connected[station_id]:
                del self._connected[station_id]
            self._forget_beyond_limit()
        log.info("station %s disconnected from the proxy", station_id)

    def _forget_beyond_limit(self) -> None:
        """Forget the least recently seen stations not connected, beyond ``max_stations``."""
        excess = len(self._stations) - self.limits.max_stations
        if excess > 0:
            for station_id in [s for s in self._stations if s not in self._connected][:excess]:
                del self._stations[station_id]

    async def _station_to_csms(
        self, station: ServerConnection, upstream: ClientConnection, tap: StationTap | None
    ) -> None:
        loop = asyncio.get_running_loop()
        bucket = self.limits.bucket(loop.time())  # per connection: the CSMS's pace is kept
        while True:
            try:
                message = await station.recv()
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                break
            wait_s = bucket.take(loop.time()) if bucket is not None else 0.0
            if wait_s > 0:  # over the rate: forwarded later, never dropped
                self.counters.throttled += 1
                await asyncio.sleep(wait_s)
            received_at = self._now()
            outcome: Tapped | Rejected | Replay | None = None
            if tap is not None:
                raw = _text(message)
                count_frame(tap.version, raw)
                try:
                    # Before sending: the CSMS's answer may be back before send returns.
                    site_id = self._registry.site_of(tap.station_id)
                    outcome = tap.from_station(raw, received_at, site_id)
                except Exception:  # a bug in the tap: the frame still goes through
                    log.exception("station %s: tapping a frame failed", tap.station_id)
                    self.counters.internal_errors += 1
                    outcome = Rejected(INTERNAL_ERROR_REASON, "internal error tapping", raw, None)
            try:
                await upstream.send(message)
            except ConnectionClosed:
                pass  # the CSMS left; the other loop closes the station
            if tap is not None and outcome is not None:
                # After sending (a SEND or a rejected frame waits for no answer): this holds
                # up the station's next frame only, so taps stay in order.
                await self._settle(tap, outcome, received_at)
        await _close_like(upstream, rcvd)

    async def _csms_to_station(
        self, upstream: ClientConnection, station: ServerConnection, tap: StationTap | None
    ) -> None:
        while True:
            try:
                message = await upstream.recv()
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                break
            if tap is not None:
                # Before forwarding: a CALLRESULT reaches the station only once tapped.
                await self._tap_answer(tap, _text(message))
            try:
                await station.send(message)
            except ConnectionClosed:
                pass  # the station left; the other loop closes the CSMS side
        await _close_like(station, rcvd)

    async def _tap_answer(self, tap: StationTap, raw: str) -> None:
        answer: CsmsAnswer | None = None
        try:
            answer = tap.from_csms(raw)
            if answer is None:
                return
            # How long the station waited for the CSMS (through gridstream, tap included).
            waited = (self._now() - answer.call.received_at).total_seconds()
            observe_answer(tap.version, answer.call.frame.action, waited)
            if answer.result is None:
                self.counters.refused_by_csms += 1
                return
            outcome = tap.tap(answer, self._registry.site_of(tap.station_id))
        except Exception:  # a bug in the tap: keep the CALL, forward the answer
            log.exception("station %s: tapping an answer failed", tap.station_id)
            self.counters.internal_errors += 1
            if answer is None:
                return
            frame = answer.call.frame
            detail = f"internal error tapping {frame.action}"
            outcome = Rejected(INTERNAL_ERROR_REASON, detail, frame.raw, None, frame.message_id)
        if outcome is None:
            self.counters.ignored += 1
            return
        await self._settle(tap, outcome, answer.call.received_at)

    async def _settle(
        self, tap: StationTap, outcome: Tapped | Rejected | Replay, received_at: datetime
    ) -> None:
        """Publish or dead-letter what the tap made of one station message; count it."""
        if isinstance(outcome, Replay):
            self.counters.duplicates += 1
        elif isinstance(outcome, Rejected):
            if outcome.reason_code != INTERNAL_ERROR_REASON:  # bugs are counted apart
                self.counters.rejected += 1
            await self._send_dead_letter(tap, outcome, received_at)
        elif await self._bounded(self._publish(outcome.records) if outcome.records else None):
            tap.stored(outcome)
            self.counters.accepted += 1
            self.counters.duplicate_records += outcome.fresh.dropped
        else:
            self.counters.publish_failed += 1
            log.error("station %s: %s forwarded, not tapped", tap.station_id, outcome.action)
            detail = f"{outcome.action} forwarded to the CSMS; its records were not stored"
            lost = Rejected("broker_unavailable", detail, outcome.raw, None, outcome.message_id)
            await self._send_dead_letter(tap, lost, received_at)

    async def _bounded(self, produce: Awaitable[None] | None) -> bool:
        """Await ``produce`` within ``publish_timeout_s``; False if it failed or timed out."""
        if produce is None:
            return True
        try:
            await asyncio.wait_for(produce, self._publish_timeout_s)
        except Exception:
            log.exception("the broker did not acknowledge in time")
            return False
        return True

    async def _send_dead_letter(
        self, tap: StationTap, rejected: Rejected, received_at: datetime
    ) -> None:
        letter = DeadLetter(
            source=tap.version,
            reason=rejected.reason_code,
            detail=rejected.detail,
            raw=redact_id_tokens(rejected.raw, self._id_token_key),
            received_at=received_at,
            station_id=tap.station_id,
            message_id=rejected.message_id,
        )
        log.info("station %s: dead letter (%s) %s", tap.station_id, letter.reason, letter.detail)
        if not await self._bounded(self._dead_letter(letter)):
            self.counters.dead_letter_failed += 1


async def serve_ocpp_proxy(
    host: str,
    port: int,
    *,
    upstream_url: str,
    publish: Publish,
    dead_letter: DeadLetterSink,
    registry: SiteRegistry,
    now: Clock,
    id_token_key: bytes,
    upstream_open_timeout_s: float = UPSTREAM_OPEN_TIMEOUT_S,
    publish_timeout_s: float = PUBLISH_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
    limits: OcppLimits | None = None,
    authenticator: Authenticator | None = None,
) -> OcppProxy:
    """Start the proxy on ``host``:``port`` (0 = any free port) in front of ``upstream_url``.

    ``upstream_url`` is the CSMS's OCPP endpoint without the identity
    (``wss://csms.example/ocpp``; its certificate is checked against the system's trusted
    CAs). ``ssl_context``: serve the stations wss://. Close with ``close()`` and
    ``wait_closed()``, or use the returned object as an async context manager.
    """
    if now().tzinfo is None:
        raise ValueError("now() must return a timezone-aware datetime (UTC)")
    proxy = OcppProxy(
        upstream_url=upstream_url,
        publish=publish,
        dead_letter=dead_letter,
        registry=registry,
        now=now,
        id_token_key=id_token_key,
        upstream_open_timeout_s=upstream_open_timeout_s,
        publish_timeout_s=publish_timeout_s,
        limits=limits,
        authenticator=authenticator,
    )
    proxy.server = await serve(
        proxy.handle_connection,
        host,
        port,
        select_subprotocol=proxy.select_subprotocol,
        process_request=proxy.process_request,
        process_response=proxy.process_response,
        ssl=ssl_context,
        max_size=proxy.limits.max_message_bytes,
        open_timeout=proxy.limits.open_timeout_s,
    )
    return proxy
