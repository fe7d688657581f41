"""Proxy-mode tap: what the CSMS accepted from a station, read into records (pure).

In proxy mode (``connectors.ocpp.proxy``) every frame between a station and an existing
CSMS is forwarded unchanged; this module decides what that traffic means for Kafka. It
does no I/O and reads no clock: the shell hands it each frame with its receive time and
does the publishing and dead-lettering.

The rules:

- A station CALL is remembered as it passes towards the CSMS (``StationTap.from_station``)
  and read when the CSMS's answer to it passes back (``from_csms``, then ``tap``). A
  CALLRESULT means the CSMS took it: its records are to be published, before that answer
  goes on to the station. A CALLERROR means nothing is tapped: the station will retry.
- The CALL is read by the same core as CSMS mode (``parse_frame`` / ``handle_call``), with
  the station's ``StationState`` and the receive time of the station's frame. The core's
  own answer is dropped: the station gets the CSMS's.
- Exactly once, as in CSMS mode (``connectors.ocpp.replays``): a CALL the station
  delivered before (a retransmission the CSMS answered again) publishes nothing, samples
  delivered before are left out, and the memory learns a CALL only once its records are
  stored (``StationTap.stored``, after the broker acknowledged them).
- OCPP 1.6 StartTransaction: the transactionId is the one in the CSMS's answer (the
  station's ``Sessions16`` gets it as its allocator), so that Start, Stop and MeterValues
  records carry the id the station and the CSMS use.
- Frames the core rejects are forwarded all the same (the CSMS decides) and are to be
  dead-lettered: at once when the core cannot read them as a CALL (not JSON, wrong shape,
  2.1 SEND), else once the CSMS accepted the CALL (data the CSMS took is then missing
  from Kafka, and the letter says why). Actions the core does not read (Authorize,
  DataTransfer, ...) are neither tapped nor dead-lettered.
- A 2.1 SEND (NotifyPeriodicEventStream) is never answered: it is read as it passes
  towards the CSMS (``handle_send``).
- The CSMS's own CALLs mean nothing to the tap, but for SetChargingProfile: the limits a
  station was given (for compliance, ``connectors.ocpp.charging_profiles``). It is
  remembered as it passes towards the station and read when the station answers Accepted,
  at the time of that answer; its records are published before the answer goes on to the
  CSMS. A profile the station rejects, or a frame that breaks the schema, taps nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ocpp.messages import MessageType

from connectors.ocpp.charging_profiles import set_charging_profile
from connectors.ocpp.context import CallContext, OcppVersion
from connectors.ocpp.parse import (
    CallFrame,
    Rejected,
    SendFrame,
    handle_call,
    handle_send,
    parse_frame,
)
from connectors.ocpp.replays import Arrival, Fresh, Replay
from connectors.ocpp.schemas import is_valid
from connectors.ocpp.sessions import Sessions16, StationState
from gridstream.records import Record

#: Station CALLs waiting for the CSMS at once. OCPP-J allows one per direction; a few more
#: are tolerated, and beyond this the oldest is forgotten (counted in ``unanswered``).
MAX_PENDING: Final = 16
_PROFILE_ACTION: Final = '"SetChargingProfile"'


@dataclass(frozen=True)
class StationCall:
    """A CALL the station sent towards the CSMS, with the time the proxy received it."""

    frame: CallFrame
    received_at: datetime


@dataclass(frozen=True)
class CsmsAnswer:
    """The CSMS's answer to a ``StationCall``.

    ``result`` is the CALLRESULT payload; None for a CALLERROR (or an answer that is not a
    well-formed CALLRESULT, which the station cannot take as an acceptance either).
    """

    call: StationCall
    result: dict[str, Any] | None


@dataclass(frozen=True)
class Tapped:
    """A station message read: ``records`` to publish (possibly none), then ``stored``.

    A CALL the CSMS accepted (``csms_response`` its CALLRESULT payload) or a 2.1 SEND
    (``csms_response`` empty). ``records`` leaves out what the station delivered before
    (``fresh.dropped`` of them). ``raw`` is the station's frame, kept for a dead letter
    should publishing fail.
    """

    action: str
    message_id: str
    raw: str
    records: tuple[Record, ...]
    arrival: Arrival
    fresh: Fresh
    csms_response: dict[str, Any]


class TappedStation:
    """One station's memory in proxy mode, kept across its connections.

    ``state`` is what the core reads and updates (``CallContext.station``). Its
    ``Sessions16`` allocates no ids of its own: it is handed the CSMS's (``assigned``).
    """

    def __init__(self) -> None:
        """Start with empty session memory."""
        self._csms_transaction_id: int | None = None
        self.state = StationState(sessions16=Sessions16(allocate=self._allocate))

    def _allocate(self) -> int:
        if self._csms_transaction_id is None:  # a bug: only a tapped StartTransaction asks
            raise RuntimeError("a 1.6 transaction id was asked for outside StartTransaction")
        return self._csms_transaction_id

    @contextmanager
    def assigned(self, transaction_id: int) -> Iterator[None]:
        """Within the block, 1.6 transaction ids are ``transaction_id`` (the CSMS's).

        ``Sessions16.start`` hands a CALL id it saw last the id it gave then (a station
        retrying its own CALL); here the CSMS decides every time, so that memory is
        forgotten first.
        """
        self._csms_transaction_id = transaction_id
        try:
            self.state.sessions16.forget_last_start()
            yield
        finally:
            self._csms_transaction_id = None


class StationTap:
    """The tap of one proxied connection: station CALLs in flight and their reading.

    Feed it every frame in the order it is forwarded; it keeps no reference to either
    connection. ``unanswered`` counts CALLs the CSMS never answered (forgotten beyond
    ``max_pending``, or still open when the connection ends: see ``close``).
    """

    def __init__(
        self,
        station_id: str,
        version: OcppVersion,
        station: TappedStation,
        id_token_key: bytes,
        *,
        max_pending: int = MAX_PENDING,
    ) -> None:
        """Tap ``station_id``'s connection speaking ``version``."""
        self.station_id = station_id
        self.version = version
        self._station = station
        self._id_token_key = id_token_key
        self._max_pending = max_pending
        self._pending: dict[str, StationCall] = {}
        #: The CSMS's SetChargingProfile CALLs the station has not answered yet, by id.
        self._profiles: dict[str, tuple[str, dict[str, Any]]] = {}
        self.unanswered = 0

    def from_station(
        self, raw: str, received_at: datetime, site_id: str
    ) -> Tapped | Rejected | Replay | None:
        """Note a frame going to the CSMS; what comes back is to be dealt with now.

        A CALL is remembered until the CSMS answers it (a retry under the same id replaces
        it): None. A 2.1 SEND is read at once, as ``tap`` reads an answered CALL. A frame
        the core cannot read is a ``Rejected`` to dead-letter. Answers to the CSMS's CALLs,
        and anything else the core ignores, give None.
        """
        if self._profiles:
            profile = self._profile_accepted(raw, received_at, site_id)
            if profile is not None:
                return profile
        parsed = parse_frame(raw, self.version)
        if isinstance(parsed, CallFrame):
            self._pending.pop(parsed.message_id, None)
            self._pending[parsed.message_id] = StationCall(parsed, received_at)
            if len(self._pending) > self._max_pending:
                del self._pending[next(iter(self._pending))]
                self.unanswered += 1
            return None
        if isinstance(parsed, SendFrame):
            return self._read_send(parsed, self._context(parsed.message_id, received_at, site_id))
        return parsed if isinstance(parsed, Rejected) else None

    def from_csms(self, raw: str) -> CsmsAnswer | None:
        """The CSMS's answer to a remembered station CALL, if ``raw`` is one; else None.

        A CSMS SetChargingProfile CALL is remembered (``from_station`` reads it once the
        station accepted it): None.
        """
        if _PROFILE_ACTION in raw:
            self._remember_profile(raw)
        if not self._pending:  # most CSMS frames need no parsing at all
            return None
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not isinstance(frame, list) or len(frame) < 2 or not isinstance(frame[1], str):
            return None
        if frame[0] not in (MessageType.CallResult, MessageType.CallError):
            return None
        call = self._pending.pop(frame[1], None)
        if call is None:
            return None
        accepted = frame[0] == MessageType.CallResult and len(frame) == 3
        if accepted and isinstance(frame[2], dict):
            return CsmsAnswer(call, frame[2])
        return CsmsAnswer(call, None)

    def tap(self, answer: CsmsAnswer, site_id: str) -> Tapped | Rejected | Replay | None:
        """Read an answered CALL: records to publish, a rejection to dead-letter, or nothing.

        None: the CSMS refused the CALL, or the core does not read that action. ``Replay``:
        the station delivered this CALL before; nothing to publish. A ``Rejected`` carries
        the reason and the station's raw frame (its CALLERROR code is of no use here: the
        station gets the CSMS's answer). Exceptions are bugs.
        """
        if answer.result is None:
            return None
        frame = answer.call.frame
        arrival = self._station.state.replays.arrive(frame.message_id, frame.action, frame.payload)
        if arrival.replay is not None:
            return arrival.replay
        ctx = self._context(frame.message_id, answer.call.received_at, site_id)
        if self.version == "ocpp1.6" and frame.action == "StartTransaction":
            transaction_id = answer.result.get("transactionId")
            if not isinstance(transaction_id, int) or isinstance(transaction_id, bool):
                detail = "the CSMS answered StartTransaction without an integer transactionId"
                return Rejected("bad_value", detail, frame.raw, None, frame.message_id)
            with self._station.assigned(transaction_id):
                return self._read(frame, ctx, arrival, answer.result)
        return self._read(frame, ctx, arrival, answer.result)

    def _remember_profile(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError):
            return
        if (
            isinstance(frame, list) and len(frame) == 4 and frame[0] == MessageType.Call
            and frame[2] == "SetChargingProfile" and isinstance(frame[1], str)
            and isinstance(frame[3], dict)
        ):  # fmt: skip
            self._profiles[frame[1]] = (raw, frame[3])
            if len(self._profiles) > self._max_pending:
                del self._profiles[next(iter(self._profiles))]

    def _profile_accepted(self, raw: str, received_at: datetime, site_id: str) -> Tapped | None:
        """The limits of a remembered SetChargingProfile if ``raw`` is the station's yes."""
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not (
            isinstance(frame, list) and len(frame) >= 2 and isinstance(frame[1], str)
            and frame[0] in (MessageType.CallResult, MessageType.CallError)
        ):  # fmt: skip
            return None
        held = self._profiles.pop(frame[1], None)
        if held is None:
            return None
        call_raw, payload = held
        answer = frame[2] if len(frame) == 3 and isinstance(frame[2], dict) else {}
        package = self.version.removeprefix("ocpp")
        if answer.get("status") != "Accepted" or not is_valid(
            "SetChargingProfile", package, payload
        ):
            return None
        message_id = f"csms:{frame[1]}"  # the CSMS's ids, apart from the station's
        arrival = self._station.state.replays.arrive(message_id, "SetChargingProfile", payload)
        if arrival.replay is not None:
            return None  # the same profile under the same id again: tapped already
        ctx = self._context(message_id, received_at, site_id)
        fresh = self._station.state.replays.fresh(set_charging_profile(payload, ctx))
        return Tapped(
            "SetChargingProfile", message_id, call_raw, fresh.records, arrival, fresh, answer
        )

    def stored(self, tapped: Tapped) -> None:
        """The broker acknowledged ``tapped.records``: remember them as delivered."""
        self._station.state.replays.accepted(tapped.arrival, tapped.fresh, tapped.csms_response)

    def close(self) -> int:
        """End of the connection: count the CALLs still unanswered, return ``unanswered``."""
        self.unanswered += len(self._pending)
        self._pending.clear()
        self._profiles.clear()
        return self.unanswered

    def _context(self, message_id: str, received_at: datetime, site_id: str) -> CallContext:
        return CallContext(
            station_id=self.station_id,
            site_id=site_id,
            message_id=message_id,
            now=received_at,
            source=self.version,
            id_token_key=self._id_token_key,
            station=self._station.state,
        )

    def _read(
        self, frame: CallFrame, ctx: CallContext, arrival: Arrival, csms_response: dict[str, Any]
    ) -> Tapped | Rejected | None:
        result = handle_call(frame, ctx)
        if isinstance(result, Rejected):
            if result.reason_code == "unknown_action":
                return None  # an action the core does not read: the CSMS's business alone
            return result
        fresh = self._station.state.replays.fresh(result.records)
        return Tapped(
            frame.action, frame.message_id, frame.raw, fresh.records, arrival, fresh, csms_response
        )

    def _read_send(self, frame: SendFrame, ctx: CallContext) -> Tapped | Rejected | Replay | None:
        arrival = self._station.state.replays.arrive(frame.message_id, frame.action, frame.payload)
        if arrival.replay is not None:
            return arrival.replay
        result = handle_send(frame, ctx)
        if isinstance(result, Rejected):
            return None if result.reason_code == "unknown_action" else result
        fresh = self._station.state.replays.fresh(result.records)
        return Tapped(frame.action, frame.message_id, frame.raw, fresh.records, arrival, fresh, {})
