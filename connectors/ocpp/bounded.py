"""Bounded per-station memory: the one rule for forgetting (oldest first).

Every map the connector keeps per station (transactions, monitors, streams, recent CALLs)
is bounded, so that a station that never closes its sessions cannot grow it.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def bounded_put(store: dict[K, V], key: K, value: V, limit: int) -> None:
    """Set ``store[key]`` as the newest entry; drop the oldest entries beyond ``limit``.

    >>> store = {"a": 1, "b": 2}
    >>> bounded_put(store, "a", 3, limit=2); bounded_put(store, "c", 4, limit=2)
    >>> store
    {'a': 3, 'c': 4}
    """
    store.pop(key, None)  # re-insert, so that the key becomes the newest
    store[key] = value
    while len(store) > limit:
        del store[next(iter(store))]
