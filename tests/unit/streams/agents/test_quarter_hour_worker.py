"""The quarter-hour agent's shell: batches in, outputs published, state snapshotted with offsets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridstream.records import DeadLetter, MeterSample, QuarterHourLoad, Reading, Record
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.agents.quarter_hour import QuarterHourWorker
from streams.compute.processor import SiteConfig
from streams.snapshots import Snapshot, SnapshotStore

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def sample(minute: int, wh: float, site: str = "SITE-A") -> bytes:
    return MeterSample(
        ts=T0 + timedelta(minutes=minute),
        station_id="CP-1",
        site_id=site,
        evse_id=1,
        source="ocpp2.0.1",
        received_at=T0,
        readings=(Reading(measurand="Energy.Active.Import.Register", value=wh, unit="Wh"),),
    ).to_json()


class Published:
    def __init__(self) -> None:
        self.records: list[Record] = []

    async def __call__(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    def loads(self) -> list[QuarterHourLoad]:
        return [r for r in self.records if isinstance(r, QuarterHourLoad)]


def make_worker(tmp_path: Path, publish: Published, epoch: str = "epoch-1") -> QuarterHourWorker:
    return QuarterHourWorker(
        SiteConfig.from_settings(Settings()),
        SiteRegistry(),
        publish,
        SnapshotStore(tmp_path, "quarter_hour", epoch),
        lambda: T0,
    )


async def test_a_closed_quarter_hour_is_published_and_the_offset_is_recorded(
    tmp_path: Path,
) -> None:
    published = Published()
    worker = make_worker(tmp_path, published)
    # 1000 Wh at 10:00 and 1600 Wh at 10:15: 600 Wh in [10:00, 10:15), 2400 W on average.
    await worker.process([(0, 0, sample(0, 1000)), (0, 1, sample(15, 1600))])
    [load] = published.loads()
    assert (load.site_id, load.interval_start, load.import_wh) == ("SITE-A", T0, 600)
    assert load.avg_import_w == 2400
    assert worker.processed == {0: 1}


async def test_restart_resumes_from_the_snapshot_and_skips_what_it_covers(tmp_path: Path) -> None:
    first = Published()
    await make_worker(tmp_path, first).process([(0, 0, sample(0, 1000)), (0, 1, sample(5, 1200))])
    assert first.loads() == []

    # A new worker (after a crash) gets offsets 0-2 again, as Faust redelivers from its commit.
    second = Published()
    worker = make_worker(tmp_path, second)
    await worker.process(
        [(0, 0, sample(0, 1000)), (0, 1, sample(5, 1200)), (0, 2, sample(15, 1600))]
    )
    [load] = second.loads()
    assert load.import_wh == 600  # offsets 0 and 1 came from the snapshot, not twice
    assert worker.samples_in == 1


async def test_snapshot_of_another_broker_epoch_is_ignored(tmp_path: Path) -> None:
    SnapshotStore(tmp_path, "quarter_hour", "old-epoch").save(
        "meter.samples", 0, Snapshot(offset=99, state={})
    )
    published = Published()
    worker = make_worker(tmp_path, published, epoch="new-epoch")
    await worker.process([(0, 0, sample(0, 1000)), (0, 1, sample(15, 1600))])
    assert [load.import_wh for load in published.loads()] == [600]


async def test_revoked_partition_state_is_reloaded_from_its_snapshot(tmp_path: Path) -> None:
    published = Published()
    worker = make_worker(tmp_path, published)
    await worker.process([(0, 0, sample(0, 1000))])
    worker.forget([0])
    await worker.process([(0, 0, sample(0, 1000)), (0, 1, sample(15, 1600))])
    assert [load.import_wh for load in published.loads()] == [600]


async def test_a_value_that_is_no_meter_sample_goes_to_the_dead_letter_topic(
    tmp_path: Path,
) -> None:
    published = Published()
    worker = make_worker(tmp_path, published)
    await worker.process(
        [(0, 0, sample(0, 1000)), (0, 1, b'{"not": "a sample"}'), (0, 2, sample(15, 1600))]
    )
    [letter] = [r for r in published.records if isinstance(r, DeadLetter)]
    assert (letter.source, letter.reason, letter.raw) == (
        "worker:meter.samples", "bad_record", '{"not": "a sample"}'
    )  # fmt: skip
    assert letter.detail.startswith("meter.samples[0]@1: ")
    # The samples around it still count: 600 Wh in [10:00, 10:15).
    assert [load.import_wh for load in published.loads()] == [600]
    assert worker.processed == {0: 2}


async def test_outputs_that_could_not_be_published_are_emitted_when_the_batch_comes_again(
    tmp_path: Path,
) -> None:
    published = Published()
    worker = make_worker(tmp_path, published)
    await worker.process([(0, 0, sample(0, 1000))])

    async def broker_down(records: Sequence[Record]) -> None:
        raise ConnectionError("broker down")

    worker._publish = broker_down
    with pytest.raises(ConnectionError):
        await worker.process([(0, 1, sample(15, 1600))])
    worker._publish = published
    await worker.process([(0, 1, sample(15, 1600))])  # Faust delivers it again
    assert [load.import_wh for load in published.loads()] == [600]
