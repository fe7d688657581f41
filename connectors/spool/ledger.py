"""Which spool entries are released: the bookkeeping behind the spool (pure, no I/O).

Entries are numbered by the spool in append order. An entry is *released* once what it
carries is durable somewhere else, and only then may the spool forget it:

- ``ack`` mode (production Kafka with replication, acks=all): once the broker acknowledged it;
- ``sink`` mode (the embedded, memory-only broker): once the warehouse sink reports it has
  written the entry's topic/partition up to the entry's offset *in the broker epoch the
  acknowledgement came from*. A restarted embedded broker has a new epoch and starts every
  partition at offset 0 again, so an offset only means something together with its epoch.

The ledger keeps the lowest unreleased sequence number (``low``), the few entries above it
that were released out of order, and, in sink mode, the acknowledged offsets still waiting
for the sink, per (epoch, topic, partition), in offset order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TypeAlias

ReleaseMode: TypeAlias = Literal["ack", "sink"]
"""When an entry is released: on the broker's acknowledgement, or once the sink wrote it."""

RELEASE_MODES: tuple[ReleaseMode, ...] = ("ack", "sink")


@dataclass(frozen=True, slots=True)
class Ack:
    """Where the broker put one record: ``topic[partition]@offset``."""

    topic: str
    partition: int
    offset: int


class OffsetsReused(Exception):
    """The broker acknowledged records at offsets it had given out before, in one epoch.

    A broker that keeps its log does not do this; the embedded one did, after a topic it had
    created on a producer's request was created again from the catalog. An offset then
    no longer names one record, so entries acknowledged at or above the first reused offset
    are not released by offset any more: the forwarder sends every unreleased entry again.
    """

    def __init__(self, epoch: str, reused: dict[tuple[str, int], int]) -> None:
        """``reused``: per (topic, partition), the lowest offset acknowledged again."""
        self.epoch = epoch
        self.reused = reused
        where = ", ".join(f"{t}[{p}]@{o}" for (t, p), o in sorted(reused.items()))
        super().__init__(
            f"broker epoch {epoch} acknowledged offsets it had given out before: {where}"
        )


class ReleaseLedger:
    """Released entries, acknowledged offsets awaiting the sink, and the current epoch.

    ``low`` is the lowest sequence number not yet released; ``next_seq`` one past the
    highest appended. Everything below ``low`` is released; above it, ``released_above``
    holds the out-of-order releases.
    """

    def __init__(self, mode: ReleaseMode, low: int = 0, next_seq: int = 0) -> None:
        """Start with entries ``[low, next_seq)`` unreleased."""
        if mode not in RELEASE_MODES:
            raise ValueError(f"release mode {mode!r}; valid: {', '.join(RELEASE_MODES)}")
        if not 0 <= low <= next_seq:
            raise ValueError(f"need 0 <= low <= next_seq, got low={low}, next_seq={next_seq}")
        self.mode: ReleaseMode = mode
        self.low = low
        self.next_seq = next_seq
        self._released_above: set[int] = set()
        #: (epoch, topic, partition) -> (offset, seq) acknowledged there, offsets ascending.
        self._awaiting: dict[tuple[str, str, int], deque[tuple[int, int]]] = {}
        #: The broker epoch acknowledgements are recorded for; None before the first.
        self.epoch: str | None = None
        #: Highest acknowledged offset per (topic, partition) in the current epoch.
        self.acked: dict[tuple[str, int], int] = {}

    # -- appending and asking -----------------------------------------------------------------

    def appended(self, next_seq: int) -> None:
        """Entries up to ``next_seq`` (exclusive) are now in the spool."""
        if next_seq < self.next_seq:
            raise ValueError(f"next_seq went back from {self.next_seq} to {next_seq}")
        self.next_seq = next_seq

    @property
    def held(self) -> int:
        """Entries appended and not yet released."""
        return self.next_seq - self.low - len(self._released_above)

    def is_released(self, seq: int) -> bool:
        """Whether entry ``seq`` is released (durable elsewhere; the spool may drop it)."""
        return seq < self.low or seq in self._released_above

    # -- acknowledgements and the sink ---------------------------------------------------------

    def new_epoch(self, epoch: str) -> None:
        """Record acknowledgements for ``epoch`` from now on (a new broker incarnation).

        Offsets acknowledged in the epoch before stay releasable by that epoch's sink
        (it may still be writing what it read); older ones are forgotten. The caller
        re-sends every entry that is not released.
        """
        if epoch == self.epoch:
            return
        self._awaiting = {k: v for k, v in self._awaiting.items() if k[0] == self.epoch}
        self.epoch = epoch
        self.acked = {}

    def acknowledge(self, epoch: str, acked: Iterable[tuple[int, Ack]]) -> int:
        """Record that the broker of ``epoch`` acknowledged entries ``(seq, ack)``.

        Returns how many that released (ack mode: all not released yet; sink mode: none).

        Raises ``ValueError`` for an epoch other than the current one: acknowledgements
        from a broker that has since been replaced must be re-sent, not recorded. Raises
        ``OffsetsReused`` (nothing recorded) when an offset is not above every offset
        acknowledged before on its partition in this epoch; see there.
        """
        if epoch != self.epoch:
            raise ValueError(f"acknowledgement from epoch {epoch!r}, current is {self.epoch!r}")
        acked = list(acked)
        self._check_offsets_grow(epoch, acked)
        released = 0
        for seq, ack in acked:
            tp = (ack.topic, ack.partition)
            if ack.offset > self.acked.get(tp, -1):
                self.acked[tp] = ack.offset
            if self.mode == "ack":
                released += self.release_seq(seq)
            elif not self.is_released(seq):
                key = (epoch, ack.topic, ack.partition)
                awaiting = self._awaiting.get(key)
                if awaiting is None:
                    awaiting = self._awaiting[key] = deque()
                awaiting.append((ack.offset, seq))
        return released

    def _check_offsets_grow(self, epoch: str, acked: list[tuple[int, Ack]]) -> None:
        highest = dict(self.acked)
        reused: dict[tuple[str, int], int] = {}
        for _, ack in acked:
            tp = (ack.topic, ack.partition)
            if ack.offset <= highest.get(tp, -1):
                reused[tp] = min(reused.get(tp, ack.offset), ack.offset)
            highest[tp] = ack.offset
        if not reused:
            return
        for (topic, partition), offset in reused.items():
            awaiting = self._awaiting.get((epoch, topic, partition))
            if awaiting:
                # Acknowledged at offsets given out again: what is there now may be the
                # other record. Those entries are not released by offset; they go again.
                kept = deque(item for item in awaiting if item[0] < offset)
                self._awaiting[(epoch, topic, partition)] = kept
            # Offsets from here on continue from where the broker now counts.
            self.acked[(topic, partition)] = highest[(topic, partition)]
        raise OffsetsReused(epoch, reused)

    def written(self, epoch: str, topic: str, partition: int, last_offset: int) -> int:
        """Release what the broker of ``epoch`` acknowledged at or below ``last_offset``.

        Called when the sink wrote ``topic[partition]`` up to ``last_offset`` (inclusive)
        in ``epoch``. Returns how many entries that released.
        """
        awaiting = self._awaiting.get((epoch, topic, partition))
        released = 0
        while awaiting and awaiting[0][0] <= last_offset:
            _, seq = awaiting.popleft()
            released += self.release_seq(seq)
        return released

    def release_seq(self, seq: int) -> bool:
        """Release entry ``seq``; False when it already was. ``low`` moves up past it."""
        if seq >= self.next_seq:
            raise ValueError(f"entry {seq} was never appended (next is {self.next_seq})")
        if self.is_released(seq):
            return False
        if seq != self.low:
            self._released_above.add(seq)
            return True
        self.low += 1
        while self.low in self._released_above:
            self._released_above.remove(self.low)
            self.low += 1
        return True
