"""Where the warehouse keeps its files, and what their names mean.

::

    <data_dir>/gridstream.duckdb                                  the DuckDB catalog (views)
    <data_dir>/parquet/<topic>/date=<YYYY-MM-DD>/<epoch>-<partition>-<first:019d>-<last:019d>.parquet

``date`` is the UTC date of the record's event time (``schemas.event_time_field``); a
topic without one (the site registry) uses ``date=current``. ``epoch`` names the broker's
life (a restarted embedded broker starts every partition at offset 0 again: DESIGN.md),
``first`` and ``last`` are the first and last offset of the sink batch the file belongs
to. A batch whose records fall on several dates is one file per date, all with the same
name; each file records in its Parquet metadata how many files its batch has
(``BATCH_FILES_KEY``), so that a batch cut short by a crash is recognisable.

Files are written under a hidden temporary name (``.<name>.tmp``) and renamed into place,
so a reader never sees half a file and the ``*.parquet`` globs never match a temporary one.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CATALOG_FILE = "gridstream.duckdb"
PARQUET_DIR = "parquet"
UNDATED = "current"
"""The ``date=`` value of topics whose records have no event time."""

BATCH_FILES_KEY = b"gridstream.batch_files"
"""Parquet metadata key: how many files (one per date) the file's batch was written as."""

_EPOCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True, order=True)
class BatchFile:
    """The parts of a Parquet file name: ``<epoch>-<partition>-<first>-<last>.parquet``."""

    epoch: str
    partition: int
    first_offset: int
    last_offset: int

    @property
    def name(self) -> str:
        """The file name, offsets zero-padded to 19 digits so names sort by offset."""
        return (
            f"{self.epoch}-{self.partition}-{self.first_offset:019d}-{self.last_offset:019d}"
            ".parquet"
        )

    @classmethod
    def parse(cls, name: str) -> BatchFile | None:
        """The parts of ``name``, or None when it is not a sink file name.

        >>> BatchFile.parse("e1-3-0000000000000000010-0000000000000000019.parquet")
        BatchFile(epoch='e1', partition=3, first_offset=10, last_offset=19)
        """
        if not name.endswith(".parquet") or name.startswith("."):
            return None
        parts = name[: -len(".parquet")].rsplit("-", 3)
        if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
            return None
        epoch, partition, first, last = parts
        if not is_valid_epoch(epoch):
            return None
        return cls(epoch, int(partition), int(first), int(last))


def is_valid_epoch(epoch: str) -> bool:
    """Whether ``epoch`` can be part of a file name: letters, digits, ``_ . -``.

    A Kafka cluster id (22 base64url characters) qualifies.
    """
    return _EPOCH.fullmatch(epoch) is not None


def parquet_root(data_dir: Path) -> Path:
    """The folder that holds one folder per topic."""
    return data_dir / PARQUET_DIR


def topic_dir(data_dir: Path, topic: str) -> Path:
    """The folder of ``topic``'s files (one ``date=`` folder per day below it)."""
    return parquet_root(data_dir) / topic


def catalog_path(data_dir: Path) -> Path:
    """The DuckDB database file that holds the views."""
    return data_dir / CATALOG_FILE


def has_files(data_dir: Path, topic: str) -> bool:
    """Whether ``topic`` has at least one Parquet file."""
    root = topic_dir(data_dir, topic)
    if not root.is_dir():
        return False
    return any(
        entry.name.endswith(".parquet") and not entry.name.startswith(".")
        for day in os.scandir(root)
        if day.is_dir() and day.name.startswith("date=")
        for entry in os.scandir(day.path)
    )


def written_offsets(
    data_dir: Path, epoch: str, topics: Iterable[str] | None = None
) -> dict[tuple[str, int], int]:
    """Highest offset written per (topic, partition) in ``epoch``, by complete batches only.

    Scans the file names under ``parquet/`` (all topics, or only ``topics``). For each
    partition the batches are tried from the highest last offset down; the first one whose
    files are all there (as many as its ``BATCH_FILES_KEY`` says) gives the answer. A
    batch cut short by a crash is thus ignored, and its records are read again.
    """
    wanted = None if topics is None else set(topics)
    root = parquet_root(data_dir)
    batches: dict[tuple[str, int], dict[tuple[int, int], list[Path]]] = defaultdict(
        lambda: defaultdict(list)
    )
    if root.is_dir():
        for topic_entry in os.scandir(root):
            if not topic_entry.is_dir() or (wanted is not None and topic_entry.name not in wanted):
                continue
            for day in os.scandir(topic_entry.path):
                if not (day.is_dir() and day.name.startswith("date=")):
                    continue
                for entry in os.scandir(day.path):
                    parsed = BatchFile.parse(entry.name)
                    if parsed is not None and parsed.epoch == epoch:
                        key = (topic_entry.name, parsed.partition)
                        span = (parsed.first_offset, parsed.last_offset)
                        batches[key][span].append(Path(entry.path))
    out: dict[tuple[str, int], int] = {}
    for key, spans in batches.items():
        for (_, last), files in sorted(spans.items(), key=lambda kv: kv[0][1], reverse=True):
            if len(files) >= _expected_files(files[0]):
                out[key] = last
                break
    return out


def _expected_files(path: Path) -> int:
    try:
        metadata = pq.read_metadata(path).metadata or {}
    except (OSError, pa.ArrowException):
        return 1 << 30  # unreadable: treat its batch as incomplete, so it is written again
    return int(metadata.get(BATCH_FILES_KEY, b"1"))
