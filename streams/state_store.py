"""Keyed state of a computation, per input partition, with the offset it reflects.

An embedded SQLite database (the standard library's: no new dependency, one file, real
transactions) under ``<data dir>/state/<name>.sqlite3``: one row per (topic, partition,
key) and one per (topic, partition) holding the input offset the state covers and the
broker epoch. ``save`` writes what a batch changed (its keys, and the keys it removed)
together with the new offset in one transaction, so a checkpoint costs what the batch
changed, never the whole state, and the state and its offset can never disagree: a crash
before the commit leaves the previous checkpoint, whose offset says where to resume.

Why SQLite rather than rocksdict: one entry per key with the offset in the same
transaction is exactly what SQLite's transactions give; it ships with Python; WAL mode
with ``synchronous=NORMAL`` commits without an fsync per transaction (a power cut can lose
the newest checkpoints, never corrupt one, and the worker then resumes from an older offset,
which the input's redelivery covers); and reads of 10,000 keys take well under a second
(``python -m bench.state_store``).

A checkpoint of another broker epoch (a restarted embedded broker starts its offsets at 0
again, DESIGN.md) is not loaded: ``load`` drops it. The store is used from one thread at a
time (the agent awaits each save before its next batch); calls may come from a worker
thread (``asyncio.to_thread``), so the connection is not tied to the one that opened it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    epoch TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS entries (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (topic, partition, key)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Checkpoint:
    """A partition's state after input ``offset`` (inclusive): key -> serialised value."""

    offset: int
    entries: dict[str, bytes]


class StateStore:
    """Checkpoints of one computation for one broker ``epoch``, in one SQLite file."""

    def __init__(self, path: Path, epoch: str) -> None:
        """Open (or create) the store at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._epoch = epoch
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def load(self, topic: str, partition: int) -> Checkpoint | None:
        """The partition's checkpoint for this epoch, or None (none, or another epoch's)."""
        row = self._db.execute(
            'SELECT epoch, "offset" FROM checkpoints WHERE topic = ? AND partition = ?',
            (topic, partition),
        ).fetchone()
        if row is None:
            return None
        epoch, offset = row
        if epoch != self._epoch:
            self.drop(topic, partition)
            return None
        rows = self._db.execute(
            "SELECT key, value FROM entries WHERE topic = ? AND partition = ?", (topic, partition)
        ).fetchall()
        return Checkpoint(int(offset), {key: bytes(value) for key, value in rows})

    def save(
        self,
        topic: str,
        partition: int,
        offset: int,
        changed: Mapping[str, bytes],
        removed: Iterable[str] = (),
    ) -> None:
        """Write the changed keys, delete the removed ones and record ``offset``, atomically."""
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO entries (topic, partition, key, value) VALUES (?, ?, ?, ?)",
                [(topic, partition, key, value) for key, value in changed.items()],
            )
            db.executemany(
                "DELETE FROM entries WHERE topic = ? AND partition = ? AND key = ?",
                [(topic, partition, key) for key in removed],
            )
            db.execute(
                'INSERT OR REPLACE INTO checkpoints (topic, partition, epoch, "offset") '
                "VALUES (?, ?, ?, ?)",
                (topic, partition, self._epoch, offset),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def drop(self, topic: str, partition: int) -> None:
        """Forget the partition's checkpoint and every entry of it."""
        db = self._db
        db.execute("BEGIN")
        db.execute("DELETE FROM entries WHERE topic = ? AND partition = ?", (topic, partition))
        db.execute("DELETE FROM checkpoints WHERE topic = ? AND partition = ?", (topic, partition))
        db.execute("COMMIT")
