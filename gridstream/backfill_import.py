"""``gridstream backfill``: pilot history from files into the warehouse, derived tables too.

Files of meter readings (``csv``, ``ndjson``, ``parquet``: ``connectors.history.readings``)
and OCPP message logs (``ocpp-log``: ``connectors.history.ocpp_log``) are read into
canonical records, with a progress bar per file (rich). Then the stream's own
computations run over the samples in batch (``warehouse.replay``: the site load and every
analytic, with the sites file's registry and the grid signals the warehouse holds), and
everything, inputs, derived records and dead letters, goes through an embedded broker of
its own to a warehouse sink into ``GRIDSTREAM_DATA_DIR``, as one new broker epoch.

Always an embedded broker, even when ``GRIDSTREAM_KAFKA_BOOTSTRAP`` is set: history sent
to the live topics would reach the running workers as data far too late (dead letters),
and their figures for those months would never be complete. The warehouse is where
history belongs; the views read it beside the live data.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

import pyarrow.parquet as pq
from rich.progress import Progress, TaskID

from connectors.grid.result import Rejected
from connectors.history.ocpp_log import OcppLogReader
from connectors.history.readings import readings_csv, samples_ndjson, samples_parquet
from gridstream import topics
from gridstream.broker import broker_session
from gridstream.errors import ConfigError
from gridstream.parts import id_token_key, load_sites
from gridstream.producer import RecordProducer
from gridstream.records import DeadLetter, GridSignal, MeterSample, Record
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from gridstream.signals_import import sink_until_written
from streams.compute import SiteConfig
from streams.compute.analytics import analytics
from streams.compute.computation import BatchContext, SiteLoad
from streams.compute.signal_book import SignalBook
from warehouse.catalog import refresh_views
from warehouse.recent import stored_records
from warehouse.replay import replay

Format = Literal["csv", "ndjson", "parquet", "ocpp-log"]
FORMATS: tuple[Format, ...] = get_args(Format)


@dataclass
class BackfillResult:
    """What a backfill read, derived and wrote."""

    files: int = 0
    samples: int = 0
    readings: int = 0
    inputs: Counter[str] = field(default_factory=Counter)
    derived: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    rows_written: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        derived = ", ".join(f"{t} {n}" for t, n in sorted(self.derived.items())) or "none"
        rejected = ", ".join(f"{r} {n}" for r, n in sorted(self.rejected.items()))
        return (
            f"gridstream backfill: {self.samples} meter samples ({self.readings} readings) and "
            f"{sum(self.inputs.values()) - self.samples} other records from {self.files} "
            f"file(s); derived: {derived}"
            + (f"; dead letters: {rejected}" if rejected else "")
            + "; written to the warehouse"
        )


def detect_format(path: Path, head: bytes) -> Format | None:
    """The backfill format of ``path`` from its start ``head`` and its name; None if unknown."""
    if head.startswith(b"PAR1") or path.suffix == ".parquet":
        return "parquet"
    if path.suffix == ".csv":
        return "csv"
    first = next((line for line in head.splitlines() if line.strip()), b"")
    try:
        entry = json.loads(first)
    except ValueError:
        return None
    if isinstance(entry, dict) and {"direction", "frame"} <= entry.keys():
        return "ocpp-log"
    if isinstance(entry, dict) and "readings" in entry:
        return "ndjson"
    return None


async def backfill(
    settings: Settings,
    paths: Sequence[Path],
    fmt: Format | None = None,
    *,
    progress: bool = True,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackfillResult:
    """Load ``paths`` into the warehouse and recompute the derived tables (module docstring)."""
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"backfill: {path} is not a file")
    received_at = now()
    registry = SiteRegistry(settings.site_timezone)
    for assignment in load_sites(settings):
        registry.assign(assignment)
    result = BackfillResult(files=len(paths))
    records: list[Record] = []
    letters: list[DeadLetter] = []
    log = OcppLogReader(registry.site_of, id_token_key(settings), received_at)
    with Progress(disable=not progress, transient=True) as bar:
        for path in paths:
            task = bar.add_task(path.name, total=path.stat().st_size)

            def advance(done: int, task: TaskID = task) -> None:
                bar.update(task, completed=done)

            read, rejected = _read(path, fmt, registry.site_of, log, received_at, advance)
            records += read
            letters += [r.to_dead_letter(f"backfill:{path.name}", received_at) for r in rejected]
            bar.update(task, completed=path.stat().st_size)
    replayed = log.close()
    records += replayed.records
    letters += replayed.letters
    samples = sorted((r for r in records if isinstance(r, MeterSample)), key=lambda s: s.ts)
    result.samples = len(samples)
    result.readings = sum(len(s.readings) for s in samples)
    result.inputs = Counter(topics.for_record(r).name for r in records)
    derived = replay(
        samples,
        [SiteLoad(SiteConfig.from_settings(settings)), *analytics(settings)],
        BatchContext.of_registry(received_at, registry, signals=_stored_signals(settings.data_dir)),
        settings.worker_batch_size,
    )
    result.derived = Counter(topics.for_record(r).name for r in derived)
    result.rejected = Counter(letter.reason for letter in letters)
    out = [*records, *derived, *letters]
    kept = sorted({topics.for_record(r) for r in out} | {topics.DLQ}, key=lambda t: t.name)
    with broker_session(None) as broker:  # never the live topics: see the module docstring
        async with RecordProducer(broker.bootstrap, client_id="gridstream-backfill") as producer:
            await producer.publish(out)
            result.rows_written = await sink_until_written(broker, settings, producer, now, kept)
    refresh_views(settings.data_dir)
    return result


def _read(
    path: Path,
    fmt: Format | None,
    site_of: Callable[[str], str],
    log: OcppLogReader,
    received_at: datetime,
    advance: Callable[[int], object],
) -> tuple[list[Record], list[Rejected]]:
    with path.open("rb") as file:
        head = file.read(4096)
    chosen = fmt or detect_format(path, head)
    if chosen is None:
        return [], [Rejected("unknown_format", f"{path.name}: not a backfill format ("
                             f"{', '.join(FORMATS)}); give --format", head[:2000].decode(
                                 "utf-8", errors="replace"))]  # fmt: skip
    if chosen == "parquet":
        samples, rejected = samples_parquet(pq.read_table(path), path.name)
        return list(samples), rejected
    if chosen == "ocpp-log":
        done = 0
        with path.open("rb") as file:
            for number, line in enumerate(file, start=1):
                log.feed([line], first_line=number)
                done += len(line)
                if number % 10_000 == 0:
                    advance(done)
        return [], []
    data = path.read_bytes()
    if chosen == "csv":
        samples, rejected = readings_csv(data, site_of, received_at, path.name)
    else:
        samples, rejected = samples_ndjson(data, path.name)
    return list(samples), rejected


def _stored_signals(data_dir: Path) -> SignalBook:
    """The grid signals the warehouse holds (latest revisions), for the analytics' context."""
    book = SignalBook()
    book.add_all(
        s for s in stored_records(data_dir, GridSignal, "grid_signals") if isinstance(s, GridSignal)
    )
    return book
