"""Batch recomputation from stored samples, and its comparison with the stream."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gridstream.records import MeterSample
from streams.compute import QuarterHourConfig, SiteConfig
from warehouse.backfill import Difference, compare, quarter_hour_load, read_samples
from warehouse.sink import ParquetSink

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
CONFIG = SiteConfig(
    QuarterHourConfig(max_gap=timedelta(minutes=5), allowed_lateness=timedelta(hours=6))
)
REGISTER = "Energy.Active.Import.Register"


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_site_load_is_the_sum_of_its_meters_register_differences(
    sample_factory: Callable[..., MeterSample],
) -> None:
    samples = [
        # EVSE 1: 1000 Wh at 10:00, 1300 Wh at 10:15 (every 5 min): 300 Wh in [10:00, 10:15).
        *(
            sample_factory(ts=at(m), readings=[(REGISTER, 1000 + 20 * m, "Wh", None)])
            for m in range(0, 20, 5)
        ),  # fmt: skip
        # EVSE 2 of the same site: 500 -> 650 Wh: 150 Wh.
        *(
            sample_factory(ts=at(m), evse_id=2, readings=[(REGISTER, 500 + 10 * m, "Wh", None)])
            for m in range(0, 20, 5)
        ),  # fmt: skip
    ]
    [load] = quarter_hour_load(samples, CONFIG, as_of=T0)
    assert (load.site_id, load.interval_start, load.import_wh) == ("site1", T0, 450)
    assert load.avg_import_w == 1800  # 450 Wh / 0.25 h
    assert load.meters == 2


def test_an_open_quarter_hour_is_not_recomputed(
    sample_factory: Callable[..., MeterSample],
) -> None:
    # No reading at or after 10:15: the interval is not final, the stream has not said it.
    samples = [sample_factory(ts=at(m), readings=[(REGISTER, 1000 + m, "Wh", None)])
               for m in (0, 5, 10)]  # fmt: skip
    assert quarter_hour_load(samples, CONFIG, as_of=T0) == []


def test_samples_are_read_back_from_the_warehouse_per_epoch(
    data_dir: Path,
    write: Callable[..., ParquetSink],
    sample_factory: Callable[..., Any],
) -> None:
    write([sample_factory(ts=at(0)), sample_factory(ts=at(5))], epoch="gridstream-e1")
    write([sample_factory(ts=at(1))], epoch="gridstream-e2")
    assert [s.ts for s in read_samples(data_dir)] == [at(0), at(1), at(5)]
    assert [s.ts for s in read_samples(data_dir, epoch="gridstream-e2")] == [at(1)]
    assert read_samples(data_dir)[0] == sample_factory(ts=at(0))  # the record, round trip


def test_compare_lists_what_differs_or_is_missing_on_either_side(
    sample_factory: Callable[..., MeterSample],
) -> None:
    samples = [sample_factory(ts=at(m), readings=[(REGISTER, 1000 + 20 * m, "Wh", None)])
               for m in range(0, 35, 5)]  # fmt: skip
    batch = quarter_hour_load(samples, CONFIG, as_of=T0)  # 300 Wh at 10:00 and at 10:15
    stream = [("site1", at(0), 300.0, 0.0), ("site1", at(15), 299.0, 0.0),
              ("site1", at(30), 10.0, 0.0)]  # fmt: skip
    assert compare(stream, batch) == [
        Difference("site1", at(15), 299.0, 300.0, 0.0, 0.0),
        Difference("site1", at(30), 10.0, None, 0.0, None),
    ]
    assert compare(stream[:1] + [("site1", at(15), 300.0, 0.0)], batch) == []


def test_a_sample_stored_twice_does_not_double_the_recomputed_energy(
    data_dir: Path,
    write: Callable[..., ParquetSink],
    sample_factory: Callable[..., Any],
) -> None:
    samples = [
        sample_factory(ts=at(m), readings=[(REGISTER, 1000 + 20 * m, "Wh", None)])
        for m in range(0, 20, 5)
    ]
    write(samples)
    # The same samples again: re-sent to a restarted connector, then a spool replay into a
    # new broker epoch. meter_samples holds every stored record, duplicates included.
    write([s.model_copy(update={"message_id": "again"}) for s in samples], first_offset=4)
    write(samples, epoch="gridstream-e2")
    stored = read_samples(data_dir)
    assert len(stored) == 12

    [load] = quarter_hour_load(stored, CONFIG, as_of=T0)
    assert load.import_wh == 300  # 1300 Wh at 10:15 - 1000 Wh at 10:00, once


def test_interval_energy_is_recomputed_and_a_resent_batch_counts_once(
    sample_factory: Callable[..., MeterSample],
) -> None:
    # A meter that reports Energy.Active.Import.Interval (Sample.Periodic), no register:
    # 40 Wh per 5 min; its 10:00 reading only starts the series. Stored twice (re-sent).
    interval = "Energy.Active.Import.Interval"
    samples = [sample_factory(ts=at(m), readings=[(interval, 40.0, "Wh", None)])
               for m in range(0, 20, 5)]  # fmt: skip
    [load] = quarter_hour_load(samples + samples, CONFIG, as_of=T0)
    assert (load.interval_start, load.import_wh, load.completeness) == (T0, 120.0, 1.0)
