"""The grid signals in force: what DSOs and TSOs said, looked up by kind, scope and time.

Every worker keeps one ``SignalBook`` fed from the whole ``grid.signals`` topic (a small,
slowly changing side input, like the registry): the analytics ask it which capacity limit
or price holds for a scope at an instant. Plain data; no clock, no I/O.

A signal is identified as in ``GridSignal`` (source, kind, scope, interval); a higher
``revision`` of the same signal replaces it, a lower one is ignored, so the book does not
depend on the order revisions arrive in. Where several sources publish the same kind for
the same scope and instant (two DSO feeds, an OpenADR event and a file), ``in_force``
answers with each of them; ``limit_w`` takes the tightest, ``price`` the latest received.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gridstream.periods import to_epoch_ms
from gridstream.records import GridSignal, GridSignalKind, ScopeType

Scope = tuple[ScopeType, str]
"""A scope as ``(scope_type, scope_id)``: ``("site", "EAN-541448...")``."""

_Identity = tuple[str, str, str, str, int, int]


@dataclass
class _Series:
    """One (kind, scope)'s signals, sorted by interval start (ms)."""

    starts: list[int] = field(default_factory=list)
    signals: list[GridSignal] = field(default_factory=list)


class SignalBook:
    """Latest revision of every grid signal, indexed by kind and scope."""

    def __init__(self) -> None:
        """An empty book."""
        self._by_identity: dict[_Identity, GridSignal] = {}
        self._series: dict[tuple[str, str, str], _Series] = {}

    def __len__(self) -> int:
        """How many signals the book holds (latest revisions only)."""
        return len(self._by_identity)

    def add(self, signal: GridSignal) -> bool:
        """Hold ``signal`` unless a revision at least as high is held; True if it changed."""
        identity = (
            signal.source,
            signal.kind,
            signal.scope_type,
            signal.scope_id,
            to_epoch_ms(signal.interval_start),
            to_epoch_ms(signal.interval_end),
        )
        held = self._by_identity.get(identity)
        if held is not None and held.revision >= signal.revision:
            return False
        self._by_identity[identity] = signal
        series = self._series.setdefault(
            (signal.kind, signal.scope_type, signal.scope_id), _Series()
        )
        start = identity[4]
        if held is not None:
            i = series.signals.index(held)
            series.signals[i] = signal
        else:
            i = bisect.bisect_right(series.starts, start)
            series.starts.insert(i, start)
            series.signals.insert(i, signal)
        return True

    def add_all(self, signals: Iterable[GridSignal]) -> int:
        """``add`` each of ``signals``; how many changed the book."""
        return sum(self.add(s) for s in signals)

    def in_force(self, kind: GridSignalKind, scope: Scope, t_ms: int) -> list[GridSignal]:
        """The signals of ``kind`` for ``scope`` whose interval holds the instant ``t_ms``."""
        series = self._series.get((kind, scope[0], scope[1]))
        if series is None:
            return []
        out = []
        # Intervals of one series may overlap (two sources, two resolutions): look back over
        # every signal starting at or before t, newest start first, while any could hold t.
        for i in range(bisect.bisect_right(series.starts, t_ms) - 1, -1, -1):
            signal = series.signals[i]
            if to_epoch_ms(signal.interval_end) > t_ms:
                out.append(signal)
        return out

    def overlapping(
        self, kind: GridSignalKind, scope: Scope, start_ms: int, end_ms: int
    ) -> list[GridSignal]:
        """The signals of ``kind`` for ``scope`` whose interval overlaps ``[start_ms, end_ms)``."""
        series = self._series.get((kind, scope[0], scope[1]))
        if series is None:
            return []
        stop = bisect.bisect_left(series.starts, end_ms)
        return [s for s in series.signals[:stop] if to_epoch_ms(s.interval_end) > start_ms]

    def limit_w(
        self, kind: GridSignalKind, scopes: Sequence[Scope], t_ms: int
    ) -> GridSignal | None:
        """The tightest (lowest) limit of ``kind`` in force at ``t_ms`` over ``scopes``."""
        held = [s for scope in scopes for s in self.in_force(kind, scope, t_ms)]
        return min(held, key=lambda s: s.value, default=None)

    def price(self, kind: GridSignalKind, scope: Scope, t_ms: int) -> GridSignal | None:
        """The price of ``kind`` for ``scope`` at ``t_ms``: the latest received if several."""
        held = self.in_force(kind, scope, t_ms)
        return max(held, key=lambda s: (s.received_at, s.revision), default=None)

    def forget_before(self, t: datetime) -> int:
        """Drop signals whose interval ended at or before ``t``; how many were dropped."""
        floor = to_epoch_ms(t)
        gone = [k for k, s in self._by_identity.items() if k[5] <= floor]
        for identity in gone:
            signal = self._by_identity.pop(identity)
            series = self._series[(signal.kind, signal.scope_type, signal.scope_id)]
            i = series.signals.index(signal)
            del series.signals[i]
            del series.starts[i]
        return len(gone)
