"""The quarter-hour agent's shell: batches in, outputs published, state checkpointed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridstream.records import (
    DeadLetter,
    MeterSample,
    QuarterHourLoad,
    Reading,
    Record,
    SiteAssignment,
)
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.agents.quarter_hour import QuarterHourWorker
from streams.compute.computation import ComputationStep
from streams.compute.processor import SiteConfig
from streams.state_store import StateStore

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


class Seeks:
    """Records the seeks a worker asks its consumer for."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, partition: int, offset: int) -> None:
        self.calls.append((partition, offset))


def make_worker(
    tmp_path: Path,
    publish: Published,
    epoch: str = "epoch-1",
    seek: Seeks | None = None,
) -> QuarterHourWorker:
    return QuarterHourWorker(
        SiteConfig.from_settings(Settings()),
        SiteRegistry(),
        publish,
        StateStore(tmp_path / "quarter_hour.sqlite3", epoch),
        lambda: T0,
        seek,
        retry_delay_s=0.001,
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


async def test_restart_resumes_from_the_checkpoint_and_skips_what_it_covers(
    tmp_path: Path,
) -> None:
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
    assert load.import_wh == 600  # offsets 0 and 1 came from the checkpoint, not twice
    assert worker.samples_in == 1


async def test_checkpoint_of_another_broker_epoch_is_ignored(tmp_path: Path) -> None:
    StateStore(tmp_path / "quarter_hour.sqlite3", "old-epoch").save("meter.samples", 0, 99, {})
    published = Published()
    worker = make_worker(tmp_path, published, epoch="new-epoch")
    await worker.process([(0, 0, sample(0, 1000)), (0, 1, sample(15, 1600))])
    assert [load.import_wh for load in published.loads()] == [600]


async def test_revoked_partition_state_is_reloaded_from_its_checkpoint(tmp_path: Path) -> None:
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


async def test_outputs_that_could_not_be_published_are_retried_in_place(tmp_path: Path) -> None:
    published = Published()
    worker = make_worker(tmp_path, published)
    await worker.process([(0, 0, sample(0, 1000))])
    failures = 3

    async def broker_down_a_while(records: Sequence[Record]) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionError("broker down")
        await published(records)

    worker._publish = broker_down_a_while
    # the batch is never given up (Faust would ack it in take_events' finally)
    await worker.process([(0, 1, sample(15, 1600))])
    assert [load.import_wh for load in published.loads()] == [600]
    assert (worker.publish_retries, worker.processed) == (3, {0: 1})


async def test_input_resuming_past_the_checkpoint_is_sought_back_not_skipped(
    tmp_path: Path,
) -> None:
    # A worker checkpointed offset 0, then was killed after Faust committed offsets 1-2.
    await make_worker(tmp_path, Published()).process([(0, 0, sample(0, 1000))])
    published, seeks = Published(), Seeks()
    worker = make_worker(tmp_path, published, seek=seeks)
    await worker.process([(0, 3, sample(20, 1800))])  # where Faust's commit resumes
    assert (seeks.calls, published.records, worker.rewinds) == ([(0, 1)], [], 1)
    # what the consumer had fetched before the seek took effect is dropped as well
    await worker.process([(0, 4, sample(25, 1900))])
    assert published.records == []
    # the rewind: offsets 1-4 in order, 10:00 -> 10:15 is 600 Wh, once
    await worker.process(
        [(0, 1, sample(5, 1200)), (0, 2, sample(15, 1600)), (0, 3, sample(20, 1800))]
    )
    await worker.process([(0, 4, sample(25, 1900))])
    assert [load.import_wh for load in published.loads()] == [600]
    assert worker.processed == {0: 4} and len(seeks.calls) == 1


async def test_a_partition_without_checkpoint_is_rebuilt_from_the_start_of_its_input(
    tmp_path: Path,
) -> None:
    published, seeks = Published(), Seeks()
    worker = make_worker(tmp_path, published, seek=seeks)
    await worker.process([(2, 40, sample(15, 1600))])  # a wiped data dir, Faust at 40
    assert seeks.calls == [(2, 0)]


async def test_sites_silent_beyond_the_retention_leave_memory_and_the_store(
    tmp_path: Path,
) -> None:
    published = Published()
    worker = make_worker(tmp_path, published)
    await worker.process([(0, 0, sample(0, 1000, site="QUIET")), (0, 1, sample(0, 1000))])
    later = 36 * 24 * 60  # 36 days on, only SITE-A speaks
    await worker.process([(0, 2, sample(later, 1100))])
    assert worker.sites_dropped == 1
    restarted = make_worker(tmp_path, Published())
    await restarted._partition(0)
    assert set(restarted.sites[0]) == {"SITE-A"}


class CountSamples:
    """A second computation over the same batch: samples per station, checkpointed."""

    name = "count"

    def process(self, states, samples, context) -> ComputationStep:
        for s in samples:
            states[s.station_id] = states.get(s.station_id, 0) + 1
        return ComputationStep([], {s.station_id for s in samples}, {"counted": len(samples)})

    def to_dict(self, state: int) -> dict[str, int]:
        return {"n": state}

    def from_dict(self, data: dict[str, int]) -> int:
        return data["n"]

    def newest_ms(self, state: int) -> int | None:
        return None


async def test_every_computation_gets_the_batch_in_one_pass_and_its_state_is_kept(
    tmp_path: Path,
) -> None:
    def worker_with_count(published: Published) -> QuarterHourWorker:
        return QuarterHourWorker(
            SiteConfig.from_settings(Settings()),
            SiteRegistry(),
            published,
            StateStore(tmp_path / "quarter_hour.sqlite3", "epoch-1"),
            lambda: T0,
            computations=[CountSamples()],
        )

    published = Published()
    worker = worker_with_count(published)
    await worker.process([(0, 0, sample(0, 1000)), (0, 1, sample(15, 1600))])
    assert [load.import_wh for load in published.loads()] == [600]
    assert worker.counts["counted"] == 2
    # both computations' state come back from the checkpoint
    again = worker_with_count(Published())
    await again._partition(0)
    assert again._partitions[0].states["count"] == {"CP-1": 2}
    assert set(again.sites[0]) == {"SITE-A"}


class EchoLoads:
    """An analytic downstream of the site load: re-reads the loads it made of this batch."""

    name = "echo"

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def process(self, states, samples, context) -> ComputationStep:
        self.seen.append([type(r).__name__ for r in context.upstream])
        limits = context.signals.in_force("import_capacity_limit", ("site", "SITE-A"), 0)
        info = context.site_info("SITE-A")
        return ComputationStep([], set(), {"limits": len(limits), "known": info is not None})

    def to_dict(self, state: int) -> dict[str, int]:
        return {}

    def from_dict(self, data: dict[str, int]) -> int:
        return 0

    def newest_ms(self, state: int) -> int | None:
        return None


async def test_a_later_computation_sees_what_earlier_ones_made_of_the_same_batch(
    tmp_path: Path,
) -> None:
    echo = EchoLoads()
    registry = SiteRegistry()
    registry.assign(SiteAssignment(station_id="CP-1", site_id="SITE-A", contracted_capacity_w=1))
    published = Published()
    worker = QuarterHourWorker(
        SiteConfig.from_settings(Settings()),
        registry,
        published,
        StateStore(tmp_path / "quarter_hour.sqlite3", "epoch-1"),
        lambda: T0,
        computations=[echo],
    )
    await worker.process([(0, 0, sample(0, 1000)), (0, 1, sample(15, 1600))])
    # the site load's quarter-hour and the month's peak, as published
    assert echo.seen == [["QuarterHourLoad", "EvseQuarterHourLoad", "Peak"]]
    assert [type(r).__name__ for r in published.records] == echo.seen[0]
    assert worker.counts["known"] == 1 and worker.counts["limits"] == 0


async def test_checkpoints_wait_for_their_interval_and_a_flush_writes_them(
    tmp_path: Path,
) -> None:
    def worker(published: Published) -> QuarterHourWorker:
        return QuarterHourWorker(
            SiteConfig.from_settings(Settings()), SiteRegistry(), published,
            StateStore(tmp_path / "quarter_hour.sqlite3", "epoch-1"), lambda: T0,
            checkpoint_every_s=3600,
        )  # fmt: skip

    first = worker(Published())
    await first.process([(0, 0, sample(0, 1000))])
    await first.process([(0, 1, sample(5, 1200))])
    assert (first.processed, first.checkpointed) == ({0: 1}, {})  # within the interval
    # A worker starting now would find no checkpoint and replay from the start ...
    assert StateStore(tmp_path / "quarter_hour.sqlite3", "epoch-1").load("meter.samples", 0) is None
    # ... until a flush (a revoked partition, a stopping worker) writes what was applied.
    await first.flush()
    assert first.checkpointed == {0: 1}
    second = Published()
    resumed = worker(second)
    await resumed.process([(0, 2, sample(15, 1600))])
    [load] = second.loads()
    assert load.import_wh == 600  # 1000 Wh at 10:00 came from the checkpoint
