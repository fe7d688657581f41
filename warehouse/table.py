"""Each topic's files as a Delta Lake table: what is in the warehouse is what a commit says.

The sink writes a flush's Parquet files as before (``warehouse.layout``: one per topic,
partition and date, under a temporary name, synced, renamed) and then commits them to the
topic's Delta table in one transaction, together with how far the flush read each Kafka
partition: a Delta *app transaction* per (broker epoch, partition) whose version is the
last offset written (``commit``). A file renamed but never committed (a sink killed
between the two) is in no table version: no reader sees it, and the sink, which resumes
from the committed versions (``written``), writes those records again.

Every reader sees the same rows: DuckDB through the committed file list (``files``, the
catalog's base views), pyarrow, polars or Spark through the Delta log itself. The table is
partitioned by ``date`` (the event day, or ``current`` for undated topics), the folder the
files already sit in.

Exactly once in the table, not only per sink: a commit is refused when the table already
holds an offset of its batch for that (epoch, partition) (``CommitRefused``: another sink
process wrote them first, during a rebalance), and delta-rs refuses a commit that races
another one naming the same app transaction. A table the sink created empty carries the
app transaction ``FENCED`` from its first commit: every record in it is there once, so
readers need no duplicate guard (``exactly_once``). A table that adopted a pre-table
warehouse's files (whose crashed batches may have been written twice) does not.

A second marker, ``READINGS``, says whether any record holds one reading twice (the same
measurand, phase, location and context in one meter sample): version 0 from creation,
1 from the first batch that does (``mark_repeated_readings``, which the sink calls before
committing such a batch). While it is 0, ``meter_readings`` needs to compare only samples
of one instant delivered more than once (``warehouse.catalog``).

Compaction (``compact``) rewrites a partition's small files into larger ones in one
commit: a reader holds either the old file list or the new one, never both. ``expire``
deletes the partitions older than a retention, and ``vacuum`` removes files no version
has referenced for a while (so a reader that listed them just before still finds them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, RemoveAction

from warehouse.errors import CommitRefused

#: The partition column: the ``date=`` folder of each file.
PARTITION = "date"
#: The app transaction a table created by the (fenced) sink carries from its first commit.
FENCED = "gridstream:fenced"
#: Version 0: no record of the table holds one reading twice; 1: some record may.
READINGS = "gridstream:repeated-readings"
#: Files no version references are deleted after this long (readers' lists stay valid).
VACUUM_AFTER_HOURS = 24


def app_id(epoch: str, partition: int) -> str:
    """The app transaction id of one Kafka partition in one broker epoch.

    >>> app_id("Mk3OEXBSQ1y", 2)
    'gridstream:Mk3OEXBSQ1y:2'
    """
    return f"gridstream:{epoch}:{partition}"


def table_schema(files_schema: pa.Schema) -> pa.Schema:
    """The table's schema: the files' columns, then the partition column."""
    return pa.schema([*files_schema, pa.field(PARTITION, pa.string())])


@dataclass(frozen=True)
class Listing:
    """What a reader needs of a table's current version: its files and its two markers."""

    files: list[str]
    #: Every record in it once (``FENCED``): readers need no duplicate guard.
    exactly_once: bool
    #: No record holds one reading twice (``READINGS`` is 0).
    readings_distinct: bool


@dataclass(frozen=True)
class Written:
    """One file of a flush: where it is, its ``date`` folder's value, and its rows."""

    path: Path
    day: str
    rows: int


class TopicTable:
    """One topic's Delta table under ``root`` (the topic's folder); created when first used."""

    def __init__(self, root: Path, files_schema: pa.Schema) -> None:
        """A table of files with ``files_schema`` at ``root``."""
        self.root = Path(root)
        self.schema = table_schema(files_schema)
        self._table: DeltaTable | None = None
        self._lock = threading.Lock()

    def exists(self) -> bool:
        """Whether the table has a log (a first commit made it)."""
        return DeltaTable.is_deltatable(str(self.root))

    def _open(self) -> DeltaTable:
        if self._table is None:
            self.root.mkdir(parents=True, exist_ok=True)
            new = not self.exists()
            found = self._pre_table_files() if new else []
            # Only a table that starts empty holds nothing written twice.
            fenced = (
                None
                if found
                else [Transaction(app_id=FENCED, version=1), Transaction(READINGS, version=0)]
            )
            self._table = DeltaTable.create(
                str(self.root),
                schema=self.schema,
                partition_by=[PARTITION],
                mode="ignore",
                commit_properties=CommitProperties(app_transactions=fenced),
            )
            if found:
                self._adopt(found)
            elif not new:
                self._add_new_columns()
        else:
            self._table.update_incremental()
        return self._table

    def _add_new_columns(self) -> None:
        """Add the columns a record model gained since the table was made (nullable).

        Readers that go by the Delta log (polars, Spark) see only the table's own schema;
        the files the sink writes now carry the new columns, and older files read as null.
        """
        assert self._table is not None
        have = set(self._table.schema().to_arrow().names)
        missing = [f for f in self.schema if f.name not in have]
        if missing:
            self._table.alter.add_columns(DeltaSchema.from_arrow(pa.schema(missing)).fields)

    def _pre_table_files(self) -> list[Written]:
        return [
            Written(path, path.parent.name.removeprefix(f"{PARTITION}="), file_rows(path))
            for path in sorted(self.root.glob(f"{PARTITION}=*/*.parquet"))
            if not path.name.startswith(".")
        ]

    def _adopt(self, found: list[Written]) -> None:
        """Commit the files a warehouse from before the tables holds (a one-time upgrade).

        Their batches were complete or not (a crash); the base views' duplicate guard keeps
        a record re-written after such a crash once (the table is not ``exactly_once``).
        """
        assert self._table is not None
        if found:
            actions: list[AddAction | RemoveAction] = [self._action(f) for f in found]
            self._table.create_write_transaction(
                actions, mode="append", schema=self.schema,
                partition_by=[PARTITION],
            )  # fmt: skip

    def _action(self, f: Written) -> AddAction:
        stat = f.path.stat()
        return AddAction(
            path=f.path.relative_to(self.root).as_posix(),
            size=stat.st_size,
            partition_values={PARTITION: f.day},
            modification_time=int(stat.st_mtime * 1000),
            data_change=True,
            stats=json.dumps({"numRecords": f.rows}),
        )

    def commit(
        self,
        files: Sequence[Written],
        epoch: str,
        partition: int,
        last: int,
        first: int | None = None,
    ) -> None:
        """Add ``files`` and note ``last`` as partition ``partition``'s offset, atomically.

        ``first`` is the batch's first offset: ``CommitRefused`` when the table already
        holds it (or a later one) for (``epoch``, ``partition``), and when another commit
        for them wins a race (delta-rs refuses it: both name the same app transaction).
        """
        actions: list[AddAction | RemoveAction] = [self._action(f) for f in files]
        app = app_id(epoch, partition)
        properties = CommitProperties(app_transactions=[Transaction(app_id=app, version=last)])
        with self._lock:
            table = self._open()
            held = table.transaction_version(app)
            if first is not None and held is not None and held >= first:
                raise CommitRefused(
                    f"{self.root.name}[{partition}] epoch {epoch}: offsets {first}..{last} "
                    f"overlap what the table holds (up to {held})"
                )
            try:
                table.create_write_transaction(
                actions, mode="append", schema=self.schema, partition_by=[PARTITION],
                    commit_properties=properties,
                )  # fmt: skip
            except CommitFailedError as exc:
                raise CommitRefused(
                    f"{self.root.name}[{partition}] epoch {epoch}: offsets {first}..{last}: {exc}"
                ) from exc

    def written(self, epoch: str, partitions: Iterable[int]) -> dict[int, int]:
        """The last offset per partition of ``epoch`` that the commits say is in the table.

        Creates the table first if it has none (adopting a pre-table warehouse's files). The
        sink asks at start, before it writes: files a crash leaves renamed but uncommitted
        then always post-date the table, and are never adopted.
        """
        with self._lock:
            table = self._open()
            found = {p: table.transaction_version(app_id(epoch, p)) for p in partitions}
        return {p: last for p, last in found.items() if last is not None}

    def listing(self, days: tuple[date, date] | None = None) -> Listing:
        """The current version's files and markers, from one read of the log.

        With ``days`` (first, last; inclusive), only the files of the ``date`` partitions
        in that range, from the Delta log's partition values (no file opened): for dated
        topics only (an undated topic's ``current`` is in no range).
        """
        if not self.exists():
            return Listing([], exactly_once=False, readings_distinct=False)
        table = DeltaTable(str(self.root))
        if days is None:
            files = list(table.file_uris())
        else:
            first, last = (d.isoformat() for d in days)  # ISO dates sort as text
            predicate = [(PARTITION, ">=", first), (PARTITION, "<=", last)]
            files = list(table.file_uris(file_pruning_predicate=predicate))
        return Listing(
            files,
            exactly_once=table.transaction_version(FENCED) is not None,
            readings_distinct=table.transaction_version(READINGS) == 0,
        )

    def exactly_once(self) -> bool:
        """Whether every record is in the table once: it was created empty, by a fenced sink.

        False without a table, and for a table that adopted a pre-table warehouse.
        """
        return self.listing().exactly_once

    def readings_distinct(self) -> bool:
        """Whether no record in the table holds one reading twice (``READINGS`` is 0).

        False without a table, for an adopted one, and once ``mark_repeated_readings`` ran.
        """
        return self.listing().readings_distinct

    def mark_repeated_readings(self) -> None:
        """Note, for good, that a record of the table may hold one reading twice."""
        properties = CommitProperties(app_transactions=[Transaction(READINGS, version=1)])
        with self._lock:
            self._open().create_write_transaction(
                [], mode="append", schema=self.schema, partition_by=[PARTITION],
                commit_properties=properties,
            )  # fmt: skip

    def files(self, days: tuple[date, date] | None = None) -> list[str]:
        """The files of the current version (absolute paths); [] without a table.

        With ``days``, only those days' (``listing``).
        """
        return self.listing(days).files

    def compact(self, target_bytes: int = 64 * 1024 * 1024) -> dict[str, Any]:
        """Merge small files into files of about ``target_bytes``, one commit; its metrics."""
        if not self.exists():
            return {}
        with self._lock:
            metrics: dict[str, Any] = self._open().optimize.compact(target_size=target_bytes)
        return metrics

    def expire(self, before: date) -> int:
        """Delete the dated partitions before ``before``; the rows deleted."""
        if not self.exists():
            return 0
        with self._lock:
            table = self._open()
            # ISO dates sort as text; "current" (undated topics) is never before a date.
            result = table.delete(f"{PARTITION} < '{before.isoformat()}'")
        return int(result.get("num_deleted_rows", 0))

    def vacuum(self, retention_hours: int = VACUUM_AFTER_HOURS) -> list[str]:
        """Delete files no version has referenced for ``retention_hours``; their paths."""
        if not self.exists():
            return []
        with self._lock:
            removed: list[str] = self._open().vacuum(
                retention_hours=retention_hours,
                dry_run=False,
                enforce_retention_duration=False,
            )
        return removed


@dataclass(frozen=True)
class Commit:
    """A table's newest version and when it was committed."""

    version: int
    at: datetime


def last_commit(root: Path) -> Commit | None:
    """The newest commit of the table at ``root``; None when there is no table."""
    if not DeltaTable.is_deltatable(str(root)):
        return None
    table = DeltaTable(str(root))
    (newest,) = table.history(1)
    return Commit(table.version(), datetime.fromtimestamp(newest["timestamp"] / 1000, UTC))


def file_rows(path: Path) -> int:
    """The rows of a Parquet file, from its footer."""
    return int(pq.ParquetFile(path).metadata.num_rows)
