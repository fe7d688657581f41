"""A generated history of meter readings, written as the warehouse writes it (benches only).

``generate`` fills a data dir with ``meter.samples`` and ``registry.sites`` Delta tables
in the real layout (``warehouse.layout``, ``warehouse.table``), fast: DuckDB SQL makes the
rows, no Kafka and no pydantic object per row. The history:

- ``sites`` sites (463 by default, the issue's figure), one station each with
  ``evses_per_site`` EVSEs, under ``brps`` balance responsible parties; every fourth EVSE
  discharges too (V2X);
- one meter sample per EVSE every ``period`` (5 minutes, so samples fall on every
  quarter-hour boundary), from 2026-01-01 00:00 UTC, each with two readings: the import
  and the export register (Wh, cumulative, never decreasing: a daily charging curve
  ``rate * k + amplitude * (theta - sin theta)`` whose slope is never negative);
- as many samples as make ``readings`` readings: 100 million readings from 463 sites of
  four EVSEs are 27,000 samples per EVSE, 93.75 days.

The files are what a sink would have committed: per day, ``files_per_day`` files (each of
one Kafka partition's samples, the sink's ``(topic, partition, date)`` file, in offset
order), all of a day committed in one Delta commit with the last offset per partition as
the app transaction, as ``ParquetSink`` does per flush. A running sink commits far more,
smaller files (one per partition and date every flush); ``warehouse.compaction`` merges
them, which ``compact`` runs here (``gridstream compact``, the real command).

``flat_readings`` writes the same readings, one row each, to one Parquet file: what an
analyst would have without gridstream, the baseline the report bench runs its SQL on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.transaction import AddAction, RemoveAction

from gridstream import topics
from warehouse import layout
from warehouse.catalog import committed_files
from warehouse.compaction import compact_warehouse
from warehouse.schemas import topic_schema
from warehouse.table import PARTITION, TopicTable, Written, app_id, table_schema

START = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH = "bench-history"
SAMPLES = topics.METER_SAMPLES.name
IMPORT = "Energy.Active.Import.Register"
EXPORT = "Energy.Active.Export.Register"
READINGS_PER_SAMPLE = 2


@dataclass(frozen=True)
class History:
    """What ``generate`` wrote: its shape, and the files of the samples table."""

    data_dir: Path
    readings: int
    sites: int
    evses: int
    samples_per_evse: int
    days: float
    files: int
    bytes: int

    @property
    def months(self) -> list[str]:
        """The months (``YYYY-MM``, UTC) the history covers, oldest first."""
        end = START + timedelta(days=self.days)
        out: list[str] = []
        month = START.replace(day=1)
        while month < end:
            out.append(month.strftime("%Y-%m"))
            month = (month + timedelta(days=32)).replace(day=1)
        return out


def site_id(index: int) -> str:
    """The id of generated site ``index``: ``S0000``, ``S0001``, ..."""
    return f"S{index:04d}"


def _samples_sql(sites: int, evses_per_site: int, steps: range, period_s: int) -> str:
    """The SELECT of the samples of ``steps``, typed as ``meter.samples`` files are.

    Offsets count per Kafka partition in the order the samples were sent (time, then EVSE).
    """
    partitions = topics.METER_SAMPLES.partitions
    day_steps = 86_400 // period_s
    # theta advances 2 pi a day; each step adds rate + rate * (1 - cos theta) Wh or so:
    # between rate and 3 x rate, highest about noon UTC.
    theta = f"(2 * pi() * k / {day_steps})"
    swing = f"(rate / (2 * pi() / {day_steps}))"
    return f"""
        WITH evses AS (
            SELECT s, e, s * {evses_per_site} + (e - 1) AS meter, s % {partitions} AS part,
                   printf('S%04d', s) AS site_id, printf('S%04d-CP1', s) AS station_id,
                   40 + (hash(s, e) % 120) AS rate, e % 4 = 0 AS v2x
            FROM range({sites}) t(s), range(1, {evses_per_site + 1}) u(e)
        ),
        per_partition AS (
            SELECT part, count(*) AS meters FROM evses GROUP BY part
        ),
        ranked AS (
            SELECT evses.*, meters,
                   row_number() OVER (PARTITION BY evses.part ORDER BY meter) - 1 AS slot
            FROM evses JOIN per_partition USING (part)
        )
        SELECT
            TIMESTAMPTZ '{START.isoformat()}' + to_seconds(k * {period_s}) AS ts,
            station_id, site_id, CAST(e AS BIGINT) AS evse_id, CAST(e AS BIGINT) AS connector_id,
            printf('%s-%d-%d', station_id, e, k // {day_steps}) AS transaction_id,
            'ocpp2.0.1' AS source,
            printf('m%d', k * meters + slot) AS message_id,
            TIMESTAMPTZ '{START.isoformat()}' + to_seconds(k * {period_s} + 2) AS received_at,
            [
                {{'measurand': '{IMPORT}',
                  'value': round(rate * k + {swing} * ({theta} - sin({theta})), 1),
                  'unit': 'Wh', 'phase': NULL::VARCHAR, 'location': 'Outlet',
                  'context': 'Sample.Periodic', 'signed_data': NULL::VARCHAR}},
                {{'measurand': '{EXPORT}',
                  'value': CASE WHEN v2x THEN round(rate * 0.3 * k, 1) ELSE 0.0 END,
                  'unit': 'Wh', 'phase': NULL::VARCHAR, 'location': 'Outlet',
                  'context': 'Sample.Periodic', 'signed_data': NULL::VARCHAR}}
            ] AS readings,
            NULL::VARCHAR AS station_ts,
            CAST(part AS INTEGER) AS _partition,
            k * meters + slot AS _offset,
            '{EPOCH}' AS _epoch,
            CAST(ts AS DATE) AS date
        FROM range({steps.start}, {steps.stop}) t(k), ranked
    """


def generate(
    data_dir: Path,
    readings: int = 100_000_000,
    *,
    sites: int = 463,
    evses_per_site: int = 4,
    brps: int = 12,
    period: timedelta = timedelta(minutes=5),
    files_per_day: int = topics.METER_SAMPLES.partitions,
    threads: int | None = None,
) -> History:
    """Write the history into ``data_dir`` (which must hold no warehouse yet).

    ``files_per_day`` at least the topic's partitions: each partition's day is cut into
    ``files_per_day / partitions`` files by offset, as successive flushes would.
    """
    data_dir = Path(data_dir)
    evses = sites * evses_per_site
    samples = max(1, readings // (READINGS_PER_SAMPLE * evses))
    period_s = int(period.total_seconds())
    root = layout.topic_dir(data_dir, SAMPLES)
    root.mkdir(parents=True, exist_ok=True)
    partitions = topics.METER_SAMPLES.partitions
    cuts = max(1, files_per_day // partitions)
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        if threads:
            connection.execute(f"SET threads = {threads}")
        connection.execute("SET preserve_insertion_order = false")
        day_steps = 86_400 // period_s
        per_cut = max(1, math.ceil(day_steps / cuts))
        # A day at a time: memory stays that of one day's samples, whatever the history.
        for first in range(0, samples, day_steps):
            steps = range(first, min(samples, first + day_steps))
            connection.execute(
                f"""
                COPY (
                    SELECT * EXCLUDE (flush),
                           printf('%s-%d-%d', '{EPOCH}', _partition, flush) AS _file
                    FROM (
                        SELECT *, CAST(epoch(ts) - {int(START.timestamp())} AS BIGINT)
                                  // {period_s} % {day_steps} // {per_cut} AS flush
                        FROM ({_samples_sql(sites, evses_per_site, steps, period_s)})
                    )
                    ORDER BY _partition, _offset
                ) TO '{root}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date, _file),
                               OVERWRITE_OR_IGNORE true)
                """
            )
    _commit_as_the_sink(root)
    _registry(data_dir, sites, evses_per_site, brps)
    files = committed_files(data_dir, SAMPLES)
    return History(
        data_dir=data_dir,
        readings=samples * evses * READINGS_PER_SAMPLE,
        sites=sites,
        evses=evses,
        samples_per_evse=samples,
        days=samples * period_s / 86_400,
        files=len(files),
        bytes=sum(Path(f).stat().st_size for f in files),
    )


def _commit_as_the_sink(root: Path) -> None:
    """Move each ``date=D/_file=F/`` file to ``date=D/F.parquet``; commit each day once.

    DuckDB writes one folder per partition value; the sink's layout has the files of a day
    side by side. One Delta commit per day adds them with the highest offset written per
    partition as its app transaction, as the sink's flushes do.
    """
    schema = topic_schema(SAMPLES)
    TopicTable(root, schema).written(EPOCH, [])  # creates the (empty) table
    delta = DeltaTable(str(root))
    for day_dir in sorted(root.glob("date=*")):
        day = day_dir.name.removeprefix("date=")
        actions: list[AddAction | RemoveAction] = []
        last: dict[int, int] = {}
        for folder in sorted(day_dir.glob("_file=*")):
            name = folder.name.removeprefix("_file=")
            [source] = folder.glob("*.parquet")
            target = day_dir / f"{name}.parquet"
            source.rename(target)
            folder.rmdir()
            footer = pq.ParquetFile(target)
            offsets = footer.read(columns=["_offset"]).column(0)
            partition = int(name.rsplit("-", 2)[1])
            last[partition] = max(last.get(partition, -1), int(offsets[-1].as_py()))
            actions.append(
                AddAction(
                    path=target.relative_to(root).as_posix(),
                    size=target.stat().st_size,
                    partition_values={PARTITION: day},
                    modification_time=int(target.stat().st_mtime * 1000),
                    data_change=True,
                    stats=json.dumps({"numRecords": footer.metadata.num_rows}),
                )
            )
        if actions:
            delta.update_incremental()
            delta.create_write_transaction(
                actions,
                mode="append",
                schema=table_schema(schema),
                partition_by=[PARTITION],
                commit_properties=CommitProperties(
                    app_transactions=[
                        Transaction(app_id=app_id(EPOCH, p), version=v) for p, v in last.items()
                    ]
                ),
            )


def _registry(data_dir: Path, sites: int, evses_per_site: int, brps: int) -> None:
    """The ``registry.sites`` table: one entry per station, its site, BRP and capacity."""
    root = layout.topic_dir(data_dir, topics.REGISTRY_SITES.name)
    schema = topic_schema(topics.REGISTRY_SITES.name)
    table = TopicTable(root, schema)
    table.written(EPOCH, [])  # creates the table first: a file already there is adopted
    folder = root / f"date={layout.UNDATED}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{EPOCH}-0-0-{sites - 1}.parquet"
    rows = [
        {
            "station_id": f"{site_id(s)}-CP1",
            "site_id": site_id(s),
            "brp": f"10XBRP{s % brps:02d}",
            "congestion_area": f"AREA-{s % 20:02d}",
            "contracted_capacity_w": 22_000.0 * evses_per_site,
            "evses": [],
            "timezone": "Europe/Brussels",
            "_partition": 0,
            "_offset": s,
            "_epoch": EPOCH,
        }
        for s in range(sites)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="zstd")
    table.commit([Written(path, layout.UNDATED, sites)], EPOCH, 0, sites - 1)


def compact(data_dir: Path) -> float:
    """``gridstream compact`` on the history (no retention); the seconds it took."""
    import time

    began = time.perf_counter()
    compact_warehouse(data_dir, date(2100, 1, 1), {})
    return time.perf_counter() - began


def flat_readings(data_dir: Path, path: Path, sites_path: Path) -> None:
    """The history's readings, one row each, in one Parquet file; its registry in another.

    The same rows the ``meter_readings`` view shows (every reading once): ts, site_id,
    station_id, evse_id, transaction_id, measurand, phase, value, unit.
    """
    files = committed_files(data_dir, SAMPLES)
    registry = committed_files(data_dir, topics.REGISTRY_SITES.name)
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET preserve_insertion_order = false")
        connection.execute(
            f"""
            COPY (
                SELECT ts, site_id, station_id, evse_id, transaction_id,
                       r.measurand, r.phase, r.value, r.unit
                FROM (SELECT *, unnest(readings) AS r FROM read_parquet({files!r}))
            ) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
            """
        )
        connection.execute(
            f"COPY (SELECT station_id, site_id, brp, congestion_area, contracted_capacity_w "
            f"FROM read_parquet({registry!r})) TO '{sites_path}' (FORMAT parquet)"
        )
