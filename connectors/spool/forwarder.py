"""The forwarder: replays the spool's entries, in order, to the broker, for as long as it takes.

One task per spool. It reads a window of entries after the last one acknowledged, sends
it (``ForwardTarget.send``: Kafka, acks=all, order per partition kept), and records where
each entry landed. While the broker is away every attempt fails and is retried with a
growing pause (up to ``backoff_max_s``); the connector meanwhile keeps answering stations,
since publishing needs only the spool.

Broker epochs: after each window the forwarder asks the broker for its epoch (cluster
id). A different one than before means a new broker incarnation (a restarted embedded
broker keeps nothing and counts offsets from 0 again): what was acknowledged by the old
one but is not released yet may be gone, so the forwarder goes back to the lowest
unreleased entry and sends everything not released again. The window whose epoch was in
doubt is not recorded, only sent again. While idle it asks for the epoch every
``probe_interval_s``, so that a broker restart is noticed even when no station sends
anything (sink mode: entries acknowledged by the old broker wait for a sink that will never
see them) and a target that went away is dropped early (``KafkaTarget``: before its
producer's own reconnection could create topics on the new broker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from connectors.spool.frames import SpoolEntry
from connectors.spool.ledger import Ack, OffsetsReused
from connectors.spool.spool import Spool

log = logging.getLogger(__name__)


class ForwardTarget(Protocol):
    """Where the forwarder sends entries: a Kafka producer (``KafkaTarget``) or a fake."""

    async def connect(self) -> None:
        """Make sure there is a connection (idempotent); raise when the broker is away."""
        ...

    async def epoch(self) -> str:
        """The broker's epoch (cluster id); raise when the broker does not answer."""
        ...

    async def send(self, entries: Sequence[SpoolEntry]) -> list[Ack]:
        """Produce ``entries`` in order; once all are acknowledged, where each landed.

        Acknowledged means acks=all. Raises if any was not acknowledged.
        """
        ...

    async def close(self) -> None:
        """Disconnect."""
        ...


class Forwarder:
    """Sends the spool's unreleased entries to ``target`` in order, retrying until it can."""

    def __init__(
        self,
        spool: Spool,
        target: ForwardTarget,
        *,
        max_entries: int = 5000,
        max_bytes: int = 4 << 20,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 5.0,
        probe_interval_s: float = 1.0,
        send_timeout_s: float = 60.0,
    ) -> None:
        """Forward from ``spool`` to ``target``; ``start`` starts the task.

        Windows hold at most ``max_entries`` and about ``max_bytes``.
        """
        self._spool = spool
        self._target = target
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._probe_interval_s = probe_interval_s
        self._send_timeout_s = send_timeout_s
        self._cursor = 0
        self._epoch_checked = False
        self._task: asyncio.Task[None] | None = None
        self._failing_since: float | None = None
        self._last_failure_log = 0.0
        #: Records acknowledged by the broker (re-sends count again).
        self.forwarded = 0
        #: Failed attempts (each is retried).
        self.failures = 0
        #: Times the broker turned out to be a new incarnation.
        self.epoch_changes = 0
        #: Windows the broker acknowledged at offsets it had given out before (a bug).
        self.offsets_reused = 0

    async def start(self) -> None:
        """Start forwarding (the broker need not be there yet)."""
        if self._task is None:
            self._cursor = self._spool.low
            self._task = asyncio.create_task(self._run(), name="spool-forwarder")

    async def stop(self) -> None:
        """Stop forwarding and disconnect; unsent entries stay in the spool."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._target.close()

    @property
    def caught_up(self) -> bool:
        """Whether every entry synced so far was sent and acknowledged."""
        return self._cursor >= self._spool.next_seq

    async def _run(self) -> None:
        backoff = self._backoff_min_s
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: keep the entries, retry
                self._epoch_checked = False
                self._note_failure(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)
                continue
            backoff = self._backoff_min_s
            if self._failing_since is not None:
                log.warning(
                    "spool forwarder: broker reachable again after %.0f s (%d entries in "
                    "the spool not yet durable)",
                    time.monotonic() - self._failing_since,
                    self._spool.held,
                )
                self._failing_since = None

    async def _step(self) -> None:
        await self._target.connect()
        if not self._epoch_checked:
            self._adopt(await self._target.epoch())
        self._cursor = max(self._cursor, self._spool.low)
        entries, next_seq = await self._spool.read(
            self._cursor, max_entries=self._max_entries, max_bytes=self._max_bytes
        )
        if not entries:
            if next_seq > self._cursor:  # all released meanwhile: skip them
                self._cursor = next_seq
            elif not await self._spool.wait_appended(self._cursor, self._probe_interval_s):
                self._adopt(await self._target.epoch())  # idle: is it still the same broker?
            return
        async with asyncio.timeout(self._send_timeout_s):
            acks = await self._target.send(entries)
            epoch = await self._target.epoch()
        if epoch != self._spool.epoch:
            self._adopt(epoch)  # the window is sent again, to the new broker
            return
        try:
            self._spool.acknowledge(epoch, entries, acks)
        except OffsetsReused as exc:
            self.offsets_reused += 1
            log.error(
                "spool forwarder: %s; sending the %d entries not released again (a broker "
                "bug: look for topics created by a client before they were created from the "
                "catalog)",
                exc,
                self._spool.held,
            )
            self._cursor = self._spool.low
            return
        self._cursor = next_seq
        self.forwarded += len(entries)

    def _adopt(self, epoch: str) -> None:
        """Record acknowledgements for ``epoch``; on a change, send the unreleased again."""
        self._epoch_checked = True
        previous = self._spool.epoch
        if epoch == previous:
            return
        self._spool.new_epoch(epoch)
        if previous is None:
            log.info("spool forwarder: broker epoch %s", epoch)
            return
        self.epoch_changes += 1
        log.warning(
            "spool forwarder: the broker is a new incarnation (epoch %s, was %s): sending "
            "the %d entries not yet durable again",
            epoch,
            previous,
            self._spool.held,
        )
        self._cursor = self._spool.low

    def _note_failure(self, exc: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = self._last_failure_log = now
            log.warning(
                "spool forwarder: broker unavailable (%r); keeping %d entries in the spool "
                "and retrying",
                exc,
                self._spool.held,
            )
        elif now - self._last_failure_log >= 30:
            self._last_failure_log = now
            log.warning(
                "spool forwarder: broker unavailable for %.0f s (%r); %d entries kept",
                now - self._failing_since,
                exc,
                self._spool.held,
            )
        else:
            log.debug("spool forwarder: attempt failed: %r", exc)
