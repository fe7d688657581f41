"""Spool: synced appends that survive a reopen, torn tails, order, release, bounds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from connectors.spool import Ack, Spool, SpoolCorrupt, SpoolError, SpoolFull
from connectors.spool.frames import SEGMENT_MAGIC, SpoolEntry, encode
from gridstream import topics
from gridstream.records import DeadLetter

SpoolFactory = Callable[..., Spool]


def ack_all(spool: Spool, entries: list[SpoolEntry], epoch: str = "e1") -> None:
    spool.new_epoch(epoch)
    spool.acknowledge(epoch, entries, [Ack(e.topic, 0, e.seq) for e in entries])


async def test_published_records_are_kept_for_their_topics_and_survive_a_reopen(
    make_spool: SpoolFactory, item, read_all
) -> None:
    letter = DeadLetter(
        source="ocpp1.6", reason="bad_value", detail="d", raw="[]",
        received_at="2026-01-15T10:00:00Z", station_id="CP1",
    )  # fmt: skip
    async with make_spool() as spool:
        await spool.publish([letter])
        await spool.append([item(1), item(2)])
        assert (spool.next_seq, spool.held) == (3, 3)

    async with make_spool() as reopened:
        entries = await read_all(reopened)

    assert [(e.seq, e.topic, e.key, e.value) for e in entries] == [
        (0, topics.DLQ.name, topics.key_of(letter), letter.to_json()),
        (1, "meter.samples", b"site1", b"v1"),
        (2, "meter.samples", b"site2", b"v2"),
    ]


async def test_a_torn_tail_is_cut_off_on_open_and_appends_go_on_after_it(
    make_spool: SpoolFactory, segment_files, item, read_all, caplog: pytest.LogCaptureFixture
) -> None:
    async with make_spool() as spool:
        await spool.append([item(0), item(1)])
    [segment] = segment_files()
    whole = segment.stat().st_size
    # A crash in the middle of the next write: half a frame at the end.
    with segment.open("ab") as f:
        f.write(encode(SpoolEntry(2, "meter.samples", b"site2", b"v2"))[:17])

    with caplog.at_level(logging.WARNING):
        async with make_spool() as reopened:
            assert reopened.next_seq == 2
            assert segment.stat().st_size == whole
            await reopened.append([item(2)])
    assert "torn tail of 17 bytes" in caplog.text

    async with make_spool() as again:
        assert [e.value for e in await read_all(again)] == [b"v0", b"v1", b"v2"]


async def test_a_segment_damaged_before_the_last_one_refuses_to_open(
    make_spool: SpoolFactory, segment_files, item
) -> None:
    async with make_spool(segment_bytes=64) as spool:
        for n in range(3):
            await spool.append([item(n)])  # one entry per segment
    first = segment_files()[0]
    data = bytearray(first.read_bytes())
    data[len(SEGMENT_MAGIC) + 12] ^= 0xFF  # a byte inside the first frame
    first.write_bytes(bytes(data))

    with pytest.raises(SpoolCorrupt, match=f"{first.name}: CRC mismatch"):
        await make_spool(segment_bytes=64).start()


async def test_concurrent_publishers_share_syncs_and_each_keeps_its_order(
    spool: Spool, read_all
) -> None:
    async def publisher(p: int) -> None:
        for n in range(5):
            await spool.append([("meter.samples", f"p{p}".encode(), f"{p}:{n}".encode())])

    await asyncio.gather(*(publisher(p) for p in range(200)))

    stats = spool.stats()
    assert stats.appended == 1000
    assert stats.flushes < 1000  # group commit: calls waiting together share one sync
    entries = await read_all(spool)
    assert [e.seq for e in entries] == list(range(1000))
    for p in range(200):
        mine = [e.value for e in entries if e.key == f"p{p}".encode()]
        assert mine == [f"{p}:{n}".encode() for n in range(5)]


async def test_released_entries_are_not_kept_after_a_reopen(
    make_spool: SpoolFactory, item, read_all
) -> None:
    async with make_spool() as spool:
        await spool.append([item(n) for n in range(5)])
        entries = await read_all(spool)
        ack_all(spool, entries[:3])
        assert (spool.low, spool.held) == (3, 2)

    async with make_spool() as reopened:
        assert (reopened.low, reopened.next_seq, reopened.held) == (3, 5, 2)
        assert [e.value for e in await read_all(reopened)] == [b"v3", b"v4"]
        await reopened.append([item(5)])  # numbering goes on
        assert reopened.next_seq == 6


async def test_segment_files_are_deleted_once_all_their_entries_are_released(
    make_spool: SpoolFactory, segment_files, item, read_all, eventually
) -> None:
    async with make_spool(segment_bytes=100, checkpoint_interval_s=0) as spool:
        for n in range(6):
            await spool.append([item(n)])  # 42-byte frames after an 8-byte header: 2 a file
        assert len(segment_files()) == 3
        entries = await read_all(spool)

        ack_all(spool, entries[:3])  # the first segment entirely, half of the second

        await eventually(lambda: len(segment_files()) == 2)
        assert [p.name for p in segment_files()] == [
            "00000000000000000002.seg",
            "00000000000000000004.seg",
        ]
        ack_all(spool, entries[3:])

    assert segment_files() == []  # all released: a clean close leaves no segment
    async with make_spool() as reopened:
        assert (reopened.low, reopened.next_seq, reopened.held) == (6, 6, 0)


async def test_a_full_spool_refuses_records_loudly_and_takes_them_again_after_release(
    make_spool: SpoolFactory, item, read_all, caplog: pytest.LogCaptureFixture
) -> None:
    async with make_spool(max_bytes=300, segment_bytes=100) as spool:
        for n in range(6):
            await spool.append([item(n)])  # 3 segments of 92 bytes: 276 of 300
        with caplog.at_level(logging.ERROR), pytest.raises(SpoolFull, match="SPOOL_MAX_BYTES=300"):
            await spool.append([item(6)])
        assert "is FULL" in caplog.text
        assert (spool.next_seq, spool.stats().refused) == (6, 1)  # nothing written

        ack_all(spool, (await read_all(spool))[:2])  # the first segment no longer counts

        await spool.append([item(6)])
        assert spool.next_seq == 7


async def test_a_second_spool_cannot_open_a_directory_in_use(
    spool: Spool, make_spool: SpoolFactory
) -> None:
    with pytest.raises(SpoolError, match="in use by another gridstream process"):
        await make_spool().start()


async def test_a_closed_spool_refuses_records(make_spool: SpoolFactory, item) -> None:
    spool = make_spool()
    await spool.start()
    await spool.close()

    with pytest.raises(SpoolError, match="not open"):
        await spool.append([item(0)])
