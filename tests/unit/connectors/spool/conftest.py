"""Factories for spool tests: a spool on tmp_path, serialised items, a fake broker."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from connectors.spool import Ack, ReleaseMode, Spool, SpoolEntry

Item = tuple[str, bytes | None, bytes]
PARTITIONS = 2


def make_item(n: int, topic: str = "meter.samples", key: bytes | None = None) -> Item:
    """Item ``n``: key ``site<n % 3>`` (three keys), value ``v<n>``."""
    return (topic, key if key is not None else f"site{n % 3}".encode(), f"v{n}".encode())


@pytest.fixture
def item() -> Callable[..., Item]:
    """``item(n, topic="meter.samples", key=None)``: key ``site<n % 3>``, value ``v<n>``."""
    return make_item


SpoolFactory = Callable[..., Spool]


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def make_spool(spool_dir: Path) -> SpoolFactory:
    """``make_spool(mode="ack", max_bytes=1 MiB, **options)``: not started."""

    def make(mode: ReleaseMode = "ack", max_bytes: int = 1 << 20, **options: object) -> Spool:
        return Spool(spool_dir, max_bytes=max_bytes, mode=mode, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
async def spool(make_spool: SpoolFactory) -> AsyncIterator[Spool]:
    """A started ack-mode spool, closed after the test."""
    running = make_spool()
    await running.start()
    yield running
    await running.close()


@pytest.fixture
def segment_files(spool_dir: Path) -> Callable[[], list[Path]]:
    """``segment_files()``: the spool directory's segment files, in order."""
    return lambda: sorted(spool_dir.glob("*.seg"))


async def _read_all(spool: Spool) -> list[SpoolEntry]:
    out: list[SpoolEntry] = []
    seq = 0
    while True:
        entries, seq = await spool.read(seq, max_entries=1000, max_bytes=1 << 20)
        if not entries:
            return out
        out += entries


@pytest.fixture
def read_all() -> Callable[[Spool], Awaitable[list[SpoolEntry]]]:
    """``await read_all(spool)``: every unreleased entry, in order."""
    return _read_all


@dataclass
class FakeBroker:
    """A broker in memory: per (topic, partition) a log of (key, value); can go away and
    come back as a new incarnation (empty, new epoch)."""

    epoch_id: str = "epoch-1"
    up: bool = True
    logs: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = field(default_factory=dict)
    sends: int = 0
    connected: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def restart(self, epoch_id: str) -> None:
        self.epoch_id, self.logs, self.up = epoch_id, {}, True

    def forget_from(self, topic: str, partition: int, offset: int) -> None:
        """The embedded broker's bug: count offsets from ``offset`` again (the records
        there are overwritten by the next ones)."""
        del self.logs[(topic, partition)][offset:]

    def values(self, topic: str = "meter.samples") -> list[bytes]:
        """Every value of ``topic``, partition by partition, in log order."""
        return [v for (t, _), log in sorted(self.logs.items()) if t == topic for _, v in log]

    def offsets(self, topic: str, value: bytes) -> list[tuple[int, int]]:
        return [
            (p, offset)
            for (t, p), log in self.logs.items()
            if t == topic
            for offset, (_, v) in enumerate(log)
            if v == value
        ]


@dataclass
class FakeTarget:
    """A ``ForwardTarget`` on a ``FakeBroker``; partition = crc32(key) % 2."""

    broker: FakeBroker

    def _check(self) -> None:
        if not self.broker.up:
            raise ConnectionError("broker away")

    async def connect(self) -> None:
        self._check()
        self.broker.connected = True

    async def epoch(self) -> str:
        await asyncio.sleep(0)
        self._check()
        return self.broker.epoch_id

    async def send(self, entries: Sequence[SpoolEntry]) -> list[Ack]:
        await asyncio.sleep(0)
        self._check()
        self.broker.sends += 1
        acks = []
        for entry in entries:
            partition = zlib.crc32(entry.key or b"") % PARTITIONS
            log = self.broker.logs.setdefault((entry.topic, partition), [])
            log.append((entry.key, entry.value))
            acks.append(Ack(entry.topic, partition, len(log) - 1))
        self.broker.changed.set()
        return acks

    async def close(self) -> None:
        self.broker.connected = False


async def _eventually(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """``await eventually(predicate)``: poll until it holds; fail after 30 s."""
    return _eventually


@pytest.fixture
def broker() -> FakeBroker:
    """A fake broker, up, epoch ``epoch-1``."""
    return FakeBroker()


@pytest.fixture
def target(broker: FakeBroker) -> FakeTarget:
    """A forward target on ``broker``."""
    return FakeTarget(broker)
