"""Per-station transaction memory: plain classes, no I/O, no clock.

OCPP 1.6 StopTransaction names only the ``transactionId`` the CSMS assigned, not the
connector; OCPP 2.x TransactionEvent carries ``evse`` only when it likes (often just on the
first event, PROTOCOLS.md §3). Both therefore need what earlier messages said. The shell
keeps one ``StationState`` per station id across reconnects; it is lost on restart (then a
stop or a later event simply has no EVSE: ``evse_id`` None).

Memory is bounded: each map keeps the ``remember`` most recently started transactions and
forgets the oldest, so a station that never stops its sessions cannot grow it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from connectors.ocpp.bounded import bounded_put
from connectors.ocpp.replays import Replays

#: How many transactions per station to remember (a station has a handful of connectors).
DEFAULT_REMEMBER: Final = 64


class Sessions16:
    """One OCPP 1.6 station's transactions: ids this connector assigned -> connector id.

    ``allocate`` hands out transaction ids; the shell shares one allocator between all
    stations so that ids do not repeat (1.6 ids are integers chosen by the CSMS).
    """

    def __init__(
        self, allocate: Callable[[], int] | None = None, remember: int = DEFAULT_REMEMBER
    ) -> None:
        """Start empty; without ``allocate`` ids count from 1 (tests only)."""
        self._allocate = allocate if allocate is not None else itertools.count(1).__next__
        self._remember = remember
        self._connector_by_tx: dict[int, int] = {}
        self._last_start: tuple[tuple[str, str], int] | None = None

    def start(self, message_id: str, payload: Mapping[str, Any]) -> int:
        """Transaction id for the StartTransaction CALL ``message_id`` with ``payload``.

        Idempotent per CALL: ``to_records`` and ``respond`` both ask for the same CALL, and
        a station that retries it gets the same transaction id instead of a second session.
        A CALL is its message id together with its start time and register, so a station
        whose message ids restart after a reboot still gets a new id for a new start. Only
        the latest start is remembered, because 1.6 allows one outstanding CALL per station.
        """
        call = (message_id, f"{payload['timestamp']}/{payload['meterStart']}")
        if self._last_start is not None and self._last_start[0] == call:
            return self._last_start[1]
        transaction_id = self._allocate()
        connector_id: int = payload["connectorId"]
        bounded_put(self._connector_by_tx, transaction_id, connector_id, self._remember)
        self._last_start = (call, transaction_id)
        return transaction_id

    def forget_last_start(self) -> None:
        """Forget which CALL got the latest id: its next retry is a new start (proxy mode)."""
        self._last_start = None

    def connector_of(self, transaction_id: int) -> int | None:
        """Connector the transaction started on; None if unknown (restart, foreign id)."""
        return self._connector_by_tx.get(transaction_id)


class Transactions2:
    """One OCPP 2.x station's transactions: transactionId -> (EVSE id, connector id)."""

    def __init__(self, remember: int = DEFAULT_REMEMBER) -> None:
        """Start empty."""
        self._remember = remember
        self._evse_by_tx: dict[str, tuple[int, int | None]] = {}

    def note(self, transaction_id: str, evse_id: int, connector_id: int | None) -> None:
        """Remember where ``transaction_id`` runs (from an event that carried ``evse``).

        An ``evse`` without ``connectorId`` keeps the connector learned earlier for the same
        EVSE: a later event repeating only the EVSE id must not forget it.
        """
        known = self._evse_by_tx.get(transaction_id)
        if connector_id is None and known is not None and known[0] == evse_id:
            connector_id = known[1]
        bounded_put(self._evse_by_tx, transaction_id, (evse_id, connector_id), self._remember)

    def evse_of(self, transaction_id: str) -> tuple[int | None, int | None]:
        """(EVSE id, connector id) of ``transaction_id``; (None, None) if never told."""
        return self._evse_by_tx.get(transaction_id, (None, None))


#: How many variable monitors per station to remember (a monitoring report lists them all).
DEFAULT_MONITORS: Final = 256
#: How many open periodic event streams per station to remember.
DEFAULT_STREAMS: Final = 32


@dataclass(frozen=True)
class Monitor:
    """Where a 2.x variable monitor looks: its component (and EVSE) and variable."""

    component: str
    variable: str
    evse_id: int | None = None
    connector_id: int | None = None
    component_instance: str | None = None
    variable_instance: str | None = None


@dataclass(frozen=True)
class Stream:
    """An open 2.1 periodic event stream: the monitor it reports and its parameters."""

    variable_monitoring_id: int
    #: Seconds after which the station sends the data it collected (``params.interval``).
    interval_s: int | None = None
    #: Data elements the station sends together (``params.values``).
    values: int | None = None


class StreamMonitors:
    """One 2.x station's monitors (from NotifyMonitoringReport) and 2.1 periodic streams.

    A NotifyPeriodicEventStream names only its stream id; the stream
    (OpenPeriodicEventStream) names its monitor, and the monitor (NotifyMonitoringReport)
    names the component and variable that say what the values measure. Bounded like the
    transaction memory: the oldest entries are forgotten first.
    """

    def __init__(
        self, remember_monitors: int = DEFAULT_MONITORS, remember_streams: int = DEFAULT_STREAMS
    ) -> None:
        """Start empty."""
        self._remember_monitors = remember_monitors
        self._remember_streams = remember_streams
        self._monitors: dict[int, Monitor] = {}
        self._streams: dict[int, Stream] = {}

    def note_monitor(self, monitor_id: int, monitor: Monitor) -> None:
        """Remember what monitor ``monitor_id`` watches (a later report replaces it)."""
        bounded_put(self._monitors, monitor_id, monitor, self._remember_monitors)

    def monitor(self, monitor_id: int) -> Monitor | None:
        """The monitor ``monitor_id``; None if never reported (or forgotten)."""
        return self._monitors.get(monitor_id)

    def open_stream(self, stream_id: int, stream: Stream) -> None:
        """Remember an opened stream (re-opening an id replaces it)."""
        bounded_put(self._streams, stream_id, stream, self._remember_streams)

    def close_stream(self, stream_id: int) -> None:
        """Forget a closed stream; closing an unknown one does nothing."""
        self._streams.pop(stream_id, None)

    def stream(self, stream_id: int) -> Stream | None:
        """The open stream ``stream_id``; None if never opened here (or closed)."""
        return self._streams.get(stream_id)


@dataclass
class StationState:
    """All a station's session memory; only the part for its protocol version is used."""

    sessions16: Sessions16 = field(default_factory=Sessions16)
    transactions2: Transactions2 = field(default_factory=Transactions2)
    #: 2.x monitors and 2.1 periodic event streams, to read NotifyPeriodicEventStream.
    monitors: StreamMonitors = field(default_factory=StreamMonitors)
    #: What the station already delivered: retransmissions, re-sent samples, seqNo gaps.
    replays: Replays = field(default_factory=Replays)
