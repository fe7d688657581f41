"""What happens to each frame a station sends: the per-message half of the OCPP server.

``MessageHandler.on_message`` takes one websocket message of a station's connection, in
the order it arrived:

1. ``parse_frame`` and ``handle_call`` (pure);
2. accepted: ``await publish(records)``, which returns only once the records are safe
   (broker acknowledgement, or the connector's durable spool), THEN the CALLRESULT. If
   publishing raises, the station gets CALLERROR InternalError and nothing is claimed (it
   will retry);
3. rejected: ``await dead_letter(DeadLetter(...))`` with the raw frame (id tokens
   redacted), then the CALLERROR, if the frame can be answered at all.

A 2.1 SEND (``[6, id, action, payload]``, e.g. NotifyPeriodicEventStream) goes through
``handle_send``: its records are published and nothing is ever answered; a rejected one
goes to the dead-letter topic only.

A CALL the station delivered before (same id and payload, or a 2.x TransactionEvent with
the same seqNo and payload) gets the same answer again and publishes nothing; samples and
transaction events it delivered before are left out of a new CALL's records
(``connectors.ocpp.replays``).

Everything it talks to is injected (STYLE.md rule 12): the publish and dead-letter
coroutines, the site registry, the clock and the id-token key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol, TypeAlias

from websockets.asyncio.server import ServerConnection

from connectors.ocpp.context import CallContext, OcppVersion
from connectors.ocpp.id_tokens import redact_id_tokens
from connectors.ocpp.parse import (
    Accepted,
    CallFrame,
    Ignored,
    Rejected,
    SendFrame,
    boot_identity,
    call_error_frame,
    call_result_frame,
    error_code,
    handle_call,
    handle_send,
    parse_frame,
)
from connectors.ocpp.replays import Arrival, Replay
from connectors.ocpp.sessions import StationState
from gridstream.records import DeadLetter, Record
from gridstream.registry import SiteRegistry

log = logging.getLogger("connectors.ocpp.server")  # one logger name for the whole server

#: Dead-letter reason for a bug in the connector.
INTERNAL_ERROR_REASON: Final = "internal_error"

Clock: TypeAlias = Callable[[], datetime]
"""Returns the current time, timezone-aware (UTC)."""


class Publish(Protocol):
    """Keep records for their topics; return only once they are safe.

    Safe means in the durable spool (``connectors.spool.Spool.publish``, what ``gridstream
    run`` injects) or acknowledged by the broker (``RecordProducer.publish``). Raises on
    failure (spool full, broker down); the connector then answers InternalError.
    """

    async def __call__(self, records: Sequence[Record], /) -> None:
        """Keep ``records`` and wait until they are safe."""
        ...


class DeadLetterSink(Protocol):
    """Keep one dead letter for the ``dlq`` topic, as ``Publish`` keeps records."""

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
    #: Handshakes answered 401 (no, malformed or wrong credentials; TLS required).
    auth_refused: int = 0
    #: Handshakes answered 503 because ``max_connections`` were open.
    connections_refused: int = 0
    #: Frames whose handling was delayed by the station's rate limit (none were lost).
    throttled: int = 0
    #: Connections closed with 1009 because a frame exceeded ``max_message_bytes``.
    oversize_closed: int = 0
    #: Open connections closed because the same station connected again.
    connections_replaced: int = 0
    #: Disconnected stations whose memory was dropped beyond ``max_stations``.
    stations_forgotten: int = 0
    #: CALLs answered again from memory, not published again (retransmissions, re-sent
    #: TransactionEvents); not in ``accepted``.
    duplicates: int = 0
    #: Meter samples and transaction events left out of accepted CALLs because the station
    #: delivered them before (a re-sent offline batch under new message ids).
    duplicate_records: int = 0
    #: Accepted 2.x TransactionEvents repeating a (transactionId, seqNo) with another payload.
    seq_conflicts: int = 0
    #: Sampled values that could not be read, dropped alone (each dead-lettered) from
    #: frames whose other readings were stored.
    values_dropped: int = 0


class MessageHandler:
    """Handles the frames of every station connection of one server (or proxy tap)."""

    def __init__(
        self,
        *,
        publish: Publish,
        dead_letter: DeadLetterSink,
        registry: SiteRegistry,
        now: Clock,
        id_token_key: bytes,
        counters: Counters,
    ) -> None:
        """Hold the injected dependencies; ``counters`` is shared with the server."""
        if not id_token_key:
            raise ValueError("id_token_key must not be empty")
        self._publish = publish
        self._dead_letter = dead_letter
        self._registry = registry
        self._now = now
        self._id_token_key = id_token_key
        self.counters = counters

    def _context(
        self,
        station_id: str,
        message_id: str,
        received_at: datetime,
        version: OcppVersion,
        state: StationState,
    ) -> CallContext:
        return CallContext(
            station_id=station_id,
            site_id=self._registry.site_of(station_id),
            message_id=message_id,
            now=received_at,
            source=version,
            id_token_key=self._id_token_key,
            station=state,
        )

    async def on_message(
        self,
        connection: ServerConnection,
        message: str | bytes,
        station_id: str,
        version: OcppVersion,
        state: StationState,
    ) -> None:
        """Handle one websocket message of ``station_id``'s connection speaking ``version``."""
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
        if isinstance(parsed, SendFrame):  # 2.1 SEND: records published, never answered
            await self._on_send(connection, parsed, station_id, version, state, received_at)
            return
        try:
            arrival = state.replays.arrive(parsed.message_id, parsed.action, parsed.payload)
            ctx = self._context(station_id, parsed.message_id, received_at, version, state)
            result = arrival.replay or handle_call(parsed, ctx)
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
        if isinstance(result, Replay):  # answered before: the same answer, nothing published
            self.counters.duplicates += 1
            log.info(
                "station %s: %s answered again (same %s)", station_id, parsed.action, result.why
            )
            await connection.send(call_result_frame(parsed.message_id, result.response))
            return
        await self._accept(connection, parsed, result, station_id, version, state, arrival)

    async def _on_send(
        self,
        connection: ServerConnection,
        frame: SendFrame,
        station_id: str,
        version: OcppVersion,
        state: StationState,
        received_at: datetime,
    ) -> None:
        # OCPP 2.1 Part 4 §4.2.4: a SEND is never answered, not even with a CALLERROR; what
        # cannot be taken goes to the dead-letter topic only (Rejected without a code).
        try:
            ctx = self._context(station_id, frame.message_id, received_at, version, state)
            result = handle_send(frame, ctx)
        except Exception:  # a bug: keep the frame and the connection
            log.exception("station %s: handling SEND %s failed", station_id, frame.action)
            self.counters.internal_errors += 1
            detail = f"internal error handling SEND {frame.action}"
            bug = Rejected(INTERNAL_ERROR_REASON, detail, frame.raw, None, frame.message_id)
            await self._reject(connection, bug, station_id, version, received_at, count=False)
            return
        if isinstance(result, Rejected):
            await self._reject(connection, result, station_id, version, received_at)
            return
        if result.records:
            try:
                await self._publish(result.records)
            except Exception:  # the station will not send it again: logged and counted
                log.exception("station %s: publishing SEND %s failed", station_id, frame.action)
                self.counters.publish_failed += 1
                return
        self.counters.accepted += 1

    async def _accept(
        self,
        connection: ServerConnection,
        frame: CallFrame,
        result: Accepted,
        station_id: str,
        version: OcppVersion,
        state: StationState,
        arrival: Arrival,
    ) -> None:
        fresh = state.replays.fresh(result.records)  # without what was delivered before
        if fresh.records:  # Heartbeat and friends need no broker round trip
            try:
                await self._publish(fresh.records)
            except Exception:
                log.exception("station %s: publishing %s failed", station_id, frame.action)
                self.counters.publish_failed += 1
                code = error_code("broker_unavailable", version)
                detail = "records not stored; retry later"
                await connection.send(call_error_frame(frame.message_id, code, detail))
                return
        # Only now, with the records acknowledged: a failed publish is retried for real.
        state.replays.accepted(arrival, fresh, result.response)
        self.counters.duplicate_records += fresh.dropped
        self.counters.values_dropped += sum(isinstance(r, DeadLetter) for r in fresh.records)
        if arrival.seq_conflict:
            self.counters.seq_conflicts += 1
            log.warning(
                "station %s: TransactionEvent (transactionId, seqNo) %s repeated with another "
                "payload; both kept",
                station_id,
                arrival.event,
            )
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
