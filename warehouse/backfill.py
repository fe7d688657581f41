"""Quarter-hour load recomputed in batch from the meter samples the warehouse holds.

The same plain computations the stream runs (``streams.compute``: energy extraction,
the batch path ``energy_of_intervals``, the site sum), over the whole stored history read
back through DuckDB. What the stream wrote must equal what the history says, to the Wh;
``compare`` lists where it does not, so that an analyst can trust (or question) a figure,
and the history can be recomputed when a rule changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gridstream.records import MeterSample, QuarterHourLoad
from streams.compute import (
    IntervalEnergy,
    SiteLoadState,
    energy_of_intervals,
    energy_points,
    site_quarter_hour,
)
from streams.compute.processor import RatedPower, SiteConfig, meter_bound_w, unknown_power
from warehouse.catalog import QUARTER_HOUR_LOAD_OF_EPOCH, open_catalog

_SAMPLE_COLUMNS = (
    "ts, station_id, site_id, evse_id, connector_id, transaction_id, source, message_id, "
    "received_at, station_ts, charging_profile_id, readings"
)


def read_samples(data_dir: Path, epoch: str | None = None) -> list[MeterSample]:
    """Every stored meter sample (of one broker ``epoch`` if given), in time order."""
    where = "WHERE _epoch = $epoch" if epoch is not None else ""
    sql = f"SELECT {_SAMPLE_COLUMNS} FROM meter_samples {where} ORDER BY ts, _offset"
    connection = open_catalog(data_dir)
    try:
        cursor = connection.execute(sql, {"epoch": epoch} if epoch is not None else {})
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        connection.close()
    return [MeterSample.model_validate(dict(zip(names, row, strict=True))) for row in rows]


def iter_site_samples(
    data_dir: Path, epoch: str | None = None, rows_per_batch: int = 20_000
) -> Iterator[tuple[str, list[MeterSample]]]:
    """Each site's stored meter samples in time order, one site at a time.

    DuckDB sorts the history by site and time (out of core when it must) and hands it over
    in Arrow batches; only one site's samples are ever Python objects at once, so that
    ``gridstream verify`` runs in the memory of the largest site, not of the whole history.
    """
    where = "WHERE _epoch = $epoch" if epoch is not None else ""
    sql = (
        f"SELECT {_SAMPLE_COLUMNS} FROM meter_samples {where} "
        "ORDER BY site_id, ts, _epoch, _partition, _offset"
    )
    connection = open_catalog(data_dir)
    try:
        relation = connection.sql(sql, params={"epoch": epoch} if epoch is not None else None)
        site: str | None = None
        held: list[MeterSample] = []
        for batch in relation.to_arrow_reader(rows_per_batch):
            for row in batch.to_pylist():
                if row["site_id"] != site:
                    if site is not None:
                        yield site, held
                    site, held = row["site_id"], []
                held.append(MeterSample.model_validate(row))
        if site is not None:
            yield site, held
    finally:
        connection.close()


def stream_quarter_hours(
    data_dir: Path, epoch: str | None = None
) -> list[tuple[str, datetime, float, float]]:
    """What the stream wrote: ``(site_id, interval_start, import_wh, export_wh)``.

    The latest revision of each site quarter-hour (of one broker ``epoch`` if given).
    """
    source = QUARTER_HOUR_LOAD_OF_EPOCH if epoch is not None else "quarter_hour_load"
    sql = f"SELECT site_id, interval_start, import_wh, export_wh FROM {source} ORDER BY 1, 2"
    connection = open_catalog(data_dir)
    try:
        rows = connection.execute(sql, {"epoch": epoch} if epoch is not None else {}).fetchall()
    finally:
        connection.close()
    return [(str(r[0]), r[1], float(r[2]), float(r[3])) for r in rows]


def quarter_hour_load(
    samples: Sequence[MeterSample],
    config: SiteConfig,
    as_of: datetime,
    rated_power: RatedPower = unknown_power,
) -> list[QuarterHourLoad]:
    """Site loads of every final quarter-hour ``[s, s + 15 min)`` the samples cover.

    A meter belongs to the site its latest sample names; its bound is the stream's
    (``meter_bound_w``: the EVSE's rated power from ``rated_power``, else the defaults). A
    sample stored twice (a re-sent offline batch) counts once, as in the stream. Ordered by
    site, then interval.
    """
    qh_config = config.quarter_hour
    points = energy_points(samples)
    site_of: dict[tuple[str, int | None], str] = {
        (sample.station_id, sample.evse_id): sample.site_id for sample in samples
    }
    by_site: dict[str, list[IntervalEnergy]] = {}
    for meter, meter_points in points.items():
        start = min(p.ts for p in meter_points)
        end = max(p.ts for p in meter_points)
        final = [
            iv
            for iv in energy_of_intervals(
                meter_points,
                start,
                end,
                qh_config,
                meter_key=meter,
                max_power_w=meter_bound_w(meter, rated_power, config),
            )
            if iv.final
        ]
        by_site.setdefault(site_of[meter[:2]], []).extend(final)
    loads: list[QuarterHourLoad] = []
    for site in sorted(by_site):
        step = site_quarter_hour(SiteLoadState(site), by_site[site], qh_config, as_of)
        loads.extend(step.loads)
    return loads


@dataclass(frozen=True)
class Difference:
    """A site quarter-hour where the stream and the batch disagree (None: missing there)."""

    site_id: str
    interval_start: datetime
    stream_import_wh: float | None
    batch_import_wh: float | None
    stream_export_wh: float | None
    batch_export_wh: float | None


def compare(
    stream: Sequence[tuple[str, datetime, float, float]],
    batch: Sequence[QuarterHourLoad],
    tolerance_wh: float = 1e-6,
) -> list[Difference]:
    """Differences between the stream's ``(site, start, import_wh, export_wh)`` and the batch."""
    left = {(site, start): (imp, exp) for site, start, imp, exp in stream}
    right = {(b.site_id, b.interval_start): (b.import_wh, b.export_wh) for b in batch}
    out: list[Difference] = []
    for key in sorted(left.keys() | right.keys()):
        s, b = left.get(key), right.get(key)
        if (
            s is not None
            and b is not None
            and all(math.isclose(x, y, abs_tol=tolerance_wh) for x, y in zip(s, b, strict=True))
        ):
            continue
        out.append(
            Difference(
                key[0],
                key[1],
                s[0] if s else None,
                b[0] if b else None,
                s[1] if s else None,
                b[1] if b else None,
            )
        )
    return out
