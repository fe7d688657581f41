"""What a station already delivered: retransmissions answered again, re-sent data dropped.

Pure and per station (kept in its ``StationState``, lost on restart, like the rest of it).
Issue 3, "exactly once per reading"; PROTOCOLS.md §1 (a retried message MAY reuse its id)
and §7 (seqNo can repeat: dedupe on station, transactionId, seqNo and payload hash).

Three memories, each bounded (oldest forgotten first), and a gap tracker:

- **CALLs**: (message id, payload digest) -> the CALLRESULT payload sent, for the last
  ``calls`` CALLs that carried records. The same id with the same payload is a
  retransmission (the station missed our answer): it gets the same answer, nothing is
  published again. The same id with another payload is a new message. CALLs without
  records (a Heartbeat) are not remembered: handling them again doubles nothing, and a
  fresh ``currentTime`` is the better answer.
- **2.x TransactionEvents**: (transactionId, seqNo) -> (payload digest, answer), for the
  last ``events`` events. The same event under a new message id (a re-sent offline queue)
  is answered again and not published. The same seqNo with another payload is a buggy
  station: kept, and flagged (``Arrival.seq_conflict``) for the shell to count.
- **Records**: the last ``records`` meter samples and transaction events delivered, any
  version. A sample by (EVSE, transaction, ts, readings), an event by everything it says
  (all fields but ``DELIVERY_FIELDS``). One delivered before is dropped from a new
  message's records (a 1.6 offline batch re-sent as MeterValues with new ids, with the
  "updated" event each such message gives; a StopTransaction re-sent); the message is
  still answered. The key is Python's ``hash`` of those values: process-local like the
  memory itself, and two different records share one with odds of about 2^-64 per pair.
- **seqNos** (``SeqNos``): per 2.x transaction, which seqNos arrived, for
  ``TransactionEvent.seq_gap``.

Everything is remembered only in ``accepted``, which the shell calls after the broker
acknowledged the records: a failed publish leaves no trace, so the station's retry is
handled for real. What falls out of these bounds (a re-sent batch larger than
``records``, a connector restart) is still shown once by the warehouse views
(``meter_readings`` and ``sessions`` deduplicate on the reading's and the event's identity).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from connectors.ocpp.bounded import bounded_put
from gridstream.records import MeterSample, Record, TransactionEvent

#: CALLs remembered per station: OCPP-J allows one outstanding CALL, so only the last few
#: can be retransmitted.
DEFAULT_CALLS: Final = 8
#: TransactionEvents remembered per station, by (transactionId, seqNo). Older ones re-sent
#: are still caught by the records memory (their records are the same), only not counted
#: as replays.
DEFAULT_EVENTS: Final = 32
#: Samples and events remembered per station: a re-sent batch of up to this many (an hour
#: of 1.6 MeterValues a minute, a sample and an "updated" event each) is caught here; the
#: warehouse views catch the rest.
DEFAULT_RECORDS: Final = 128
#: Transactions whose seqNos are tracked per station (open ones plus the recently ended).
DEFAULT_TRANSACTIONS: Final = 8
#: Runs of consecutive seqNos kept per transaction; beyond it the lowest run is forgotten.
DEFAULT_RUNS: Final = 16

Response = dict[str, Any]
"""A CALLRESULT payload."""

EventKey = tuple[str, int]
"""(transactionId, seqNo) of a 2.x TransactionEvent."""

_Answered = tuple[bytes, Response | None]


def payload_digest(payload: Mapping[str, Any]) -> bytes:
    """A 128-bit digest of a payload as canonical JSON (sorted keys, no blanks).

    Equal for equal JSON values whatever the key order the station sent:

    >>> payload_digest({"a": 1, "b": [2]}) == payload_digest({"b": [2], "a": 1})
    True
    """
    try:  # orjson: about 15 times faster than json.dumps here (measured: 0.8 us, 13 us)
        text = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson cannot write: integers over 64 bits, lone surrogates
        text = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("ascii")
    return hashlib.blake2b(text, digest_size=16).digest()


def event_key(action: str, payload: Mapping[str, Any]) -> EventKey | None:
    """(transactionId, seqNo) of a TransactionEvent payload; None for other actions.

    Read before schema validation, so anything of the wrong type is None too.
    """
    if action != "TransactionEvent":
        return None
    info = payload.get("transactionInfo")
    transaction_id = info.get("transactionId") if isinstance(info, dict) else None
    seq_no = payload.get("seqNo")
    if not isinstance(transaction_id, str) or isinstance(seq_no, bool):
        return None
    return (transaction_id, seq_no) if isinstance(seq_no, int) else None


DELIVERY_FIELDS: Final = frozenset({"message_id", "received_at", "seq_gap"})
"""``TransactionEvent`` fields that say how it was delivered, not what happened."""

_EVENT_FIELDS: Final = tuple(f for f in TransactionEvent.model_fields if f not in DELIVERY_FIELDS)


def record_key(record: Record) -> int | None:
    """The identity of a sample or transaction event (process-local hash); None for others.

    A sample: EVSE, transaction, time and every reading. An event: every field but
    ``DELIVERY_FIELDS``. Receive time and message id never count: a re-sent record differs
    in those only.
    """
    if isinstance(record, MeterSample):
        readings = tuple(
            (r.measurand, r.value, r.unit, r.phase, r.location, r.context, r.signed_data)
            for r in record.readings
        )
        return hash((record.evse_id, record.transaction_id, record.ts, readings))
    if isinstance(record, TransactionEvent):
        return hash(tuple(getattr(record, f) for f in _EVENT_FIELDS))
    return None


@dataclass(frozen=True)
class Replay:
    """A CALL answered before: send ``response`` again, publish nothing.

    ``why``: the same message id and payload (``message_id``), or the same 2.x
    TransactionEvent under a new id (``seq_no``).
    """

    response: Response
    why: Literal["message_id", "seq_no"]


@dataclass(frozen=True)
class Arrival:
    """What the memory says about one CALL as it arrives (``Replays.arrive``)."""

    message_id: str
    digest: bytes
    #: (transactionId, seqNo) for a TransactionEvent, else None.
    event: EventKey | None
    #: Set when the CALL was answered before.
    replay: Replay | None
    #: A TransactionEvent whose (transactionId, seqNo) was accepted with another payload.
    seq_conflict: bool


@dataclass(frozen=True)
class Fresh:
    """A CALL's records without the samples and events already delivered (``Replays.fresh``)."""

    records: tuple[Record, ...]
    #: Keys of the samples and events kept, to remember once they are acknowledged.
    keys: tuple[int, ...]
    #: How many samples and events were dropped as already delivered.
    dropped: int


class SeqNos:
    """Which seqNos of each 2.x transaction arrived, as sorted runs of consecutive numbers.

    Bounded: ``transactions`` transactions (the least recently noted forgotten first) and
    ``runs`` runs each (the lowest run forgotten first, so the gaps counted later start
    above it; the event that arrived after a forgotten gap had already recorded it).
    """

    def __init__(self, transactions: int = DEFAULT_TRANSACTIONS, runs: int = DEFAULT_RUNS) -> None:
        """Start knowing nothing."""
        self._transactions = transactions
        self._runs = runs
        # transactionId -> sorted, disjoint, non-adjacent [first, last] runs (inclusive).
        self._seen: dict[str, list[tuple[int, int]]] = {}

    def missing_before(self, transaction_id: str, seq_no: int, *, started: bool) -> int | None:
        """How many seqNos between the lowest known one and ``seq_no`` have not arrived.

        When nothing below ``seq_no`` is known: 0 for the Started event (nothing comes
        before it), None for any other (the earlier ones may be lost, late, or from before
        a connector restart: not known). An offline event filling a gap lowers the count of
        events that arrive after it, never of those already recorded.

        >>> seq = SeqNos()
        >>> for n in (0, 1, 4):
        ...     seq.note("tx", n)
        >>> seq.missing_before("tx", 6, started=False)  # 2, 3 and 5
        3
        """
        runs = self._seen.get(transaction_id)
        if not runs or seq_no < runs[0][0]:
            return 0 if started else None
        lowest = runs[0][0]
        arrived = 0
        for first, last in runs:
            if first >= seq_no:
                break
            arrived += min(last, seq_no - 1) - first + 1
        return seq_no - lowest - arrived

    def note(self, transaction_id: str, seq_no: int) -> None:
        """Record that ``seq_no`` of ``transaction_id`` arrived (and was stored)."""
        runs = self._seen.get(transaction_id, [])
        i = bisect_left(runs, (seq_no, seq_no))
        # Already inside the run before it, or the first of the run at i.
        if (i > 0 and runs[i - 1][1] >= seq_no) or (i < len(runs) and runs[i][0] == seq_no):
            bounded_put(self._seen, transaction_id, runs, self._transactions)
            return
        first, last = seq_no, seq_no
        if i > 0 and runs[i - 1][1] == seq_no - 1:  # extends the run below
            i -= 1
            first = runs.pop(i)[0]
        if i < len(runs) and runs[i][0] == seq_no + 1:  # joins the run above
            last = runs.pop(i)[1]
        runs.insert(i, (first, last))
        del runs[: max(0, len(runs) - self._runs)]
        bounded_put(self._seen, transaction_id, runs, self._transactions)


class Replays:
    """One station's memory of what it delivered (see the module docstring).

    Use per CALL: ``arrive`` before handling it (a ``Replay`` is answered as is), ``fresh``
    on the records of an accepted CALL, ``accepted`` once the broker acknowledged them.
    """

    def __init__(
        self,
        *,
        calls: int = DEFAULT_CALLS,
        events: int = DEFAULT_EVENTS,
        records: int = DEFAULT_RECORDS,
        seq_nos: SeqNos | None = None,
    ) -> None:
        """Start empty, with the given bounds."""
        self._calls_limit = calls
        self._events_limit = events
        self._records_limit = records
        # Kept small, since every station has them (measured: 25 kB when all are full):
        # message id -> (digest, answer); hash of (transactionId, seqNo) -> (digest, answer),
        # which is exact because the digest covers both; an empty answer is stored as None.
        self._calls: dict[str, _Answered] = {}
        self._events: dict[int, _Answered] = {}
        self._records: dict[int, None] = {}  # an insertion-ordered set
        self.seq_nos = seq_nos if seq_nos is not None else SeqNos()

    def arrive(self, message_id: str, action: str, payload: Mapping[str, Any]) -> Arrival:
        """Look a CALL up; changes nothing."""
        digest = payload_digest(payload)
        key = event_key(action, payload)
        replay: Replay | None = None
        answered = self._calls.get(message_id)
        if answered is not None and answered[0] == digest:
            replay = Replay(dict(answered[1] or {}), "message_id")
        known = self._events.get(hash(key)) if key is not None else None
        if replay is None and known is not None and known[0] == digest:
            replay = Replay(dict(known[1] or {}), "seq_no")
        conflict = replay is None and known is not None and known[0] != digest
        return Arrival(message_id, digest, key, replay, conflict)

    def fresh(self, records: Sequence[Record]) -> Fresh:
        """``records`` without the samples and events already delivered; changes nothing."""
        kept: list[Record] = []
        keys: dict[int, None] = {}  # also catches a record repeated within the message
        dropped = 0
        for record in records:
            key = record_key(record)
            if key is not None:
                if key in self._records or key in keys:
                    dropped += 1
                    continue
                keys[key] = None
            kept.append(record)
        return Fresh(tuple(kept), tuple(keys), dropped)

    def accepted(self, arrival: Arrival, fresh: Fresh, response: Response) -> None:
        """Remember a CALL whose records the broker acknowledged, and its answer."""
        answered = (arrival.digest, response or None)
        if fresh.records or fresh.dropped:
            bounded_put(self._calls, arrival.message_id, answered, self._calls_limit)
        if arrival.event is not None:
            bounded_put(self._events, hash(arrival.event), answered, self._events_limit)
            self.seq_nos.note(*arrival.event)
        for key in fresh.keys:
            bounded_put(self._records, key, None, self._records_limit)
