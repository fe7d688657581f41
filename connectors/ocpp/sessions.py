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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

#: How many transactions per station to remember (a station has a handful of connectors).
DEFAULT_REMEMBER: Final = 64

K = TypeVar("K")
V = TypeVar("V")


def _bounded_put(store: dict[K, V], key: K, value: V, limit: int) -> None:
    # Re-insert so that the key becomes the newest; drop the oldest beyond the limit.
    store.pop(key, None)
    store[key] = value
    while len(store) > limit:
        del store[next(iter(store))]


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
        self._last_start: tuple[str, int] | None = None

    def start(self, message_id: str, connector_id: int) -> int:
        """Transaction id for the StartTransaction CALL ``message_id`` on ``connector_id``.

        Idempotent per message id: ``to_records`` and ``respond`` both ask for the same
        CALL, and a station that retries the same CALL (same id) gets the same transaction
        id instead of a second session. Only the latest start is remembered this way,
        because 1.6 allows one outstanding CALL per station.
        """
        if self._last_start is not None and self._last_start[0] == message_id:
            return self._last_start[1]
        transaction_id = self._allocate()
        _bounded_put(self._connector_by_tx, transaction_id, connector_id, self._remember)
        self._last_start = (message_id, transaction_id)
        return transaction_id

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
        _bounded_put(self._evse_by_tx, transaction_id, (evse_id, connector_id), self._remember)

    def evse_of(self, transaction_id: str) -> tuple[int | None, int | None]:
        """(EVSE id, connector id) of ``transaction_id``; (None, None) if never told."""
        return self._evse_by_tx.get(transaction_id, (None, None))


@dataclass
class StationState:
    """All a station's session memory; only the part for its protocol version is used."""

    sessions16: Sessions16 = field(default_factory=Sessions16)
    transactions2: Transactions2 = field(default_factory=Transactions2)
