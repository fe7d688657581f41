"""Forwarder: spool -> broker in order, retried while the broker is away, re-sent to a new
broker incarnation; against an in-memory broker (the broker-restart e2e test does it for
real)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from connectors.spool import Forwarder, Spool

FAST = {"backoff_min_s": 0.01, "backoff_max_s": 0.05, "probe_interval_s": 0.05}


@pytest.fixture
async def forward(target) -> AsyncIterator[Callable[[Spool], Forwarder]]:
    """``forward(spool)``: a started forwarder to the fake broker, stopped after the test."""
    started: list[Forwarder] = []

    async def start(spool: Spool, **options: object) -> Forwarder:
        forwarder = Forwarder(spool, target, **{**FAST, **options})  # type: ignore[arg-type]
        await forwarder.start()
        started.append(forwarder)
        return forwarder

    yield start  # type: ignore[misc]
    for forwarder in started:
        await forwarder.stop()


async def test_entries_reach_the_broker_in_spool_order_and_are_released_on_ack(
    spool: Spool, forward, broker, item, eventually
) -> None:
    for n in range(50):
        await spool.append([item(n)])
    forwarder = await forward(spool, max_entries=7)  # several windows

    await eventually(lambda: spool.held == 0)

    assert sorted(broker.values(), key=lambda v: int(v[1:])) == [
        f"v{n}".encode() for n in range(50)
    ]
    for k in range(3):  # a key's records are on one partition, in the order published
        key = f"site{k}".encode()
        [on_partition] = [
            [v for key_, v in log if key_ == key]
            for log in broker.logs.values()
            if (key, b"v%d" % k) in log
        ]
        assert on_partition == [f"v{n}".encode() for n in range(k, 50, 3)]
    assert forwarder.forwarded == 50
    assert forwarder.caught_up


async def test_stations_get_answers_while_the_broker_is_away_and_nothing_is_lost(
    spool: Spool, forward, broker, item, eventually
) -> None:
    await forward(spool)
    await spool.append([item(0)])
    await eventually(lambda: spool.held == 0)

    broker.up = False
    for n in range(1, 20):
        await spool.append([item(n)])  # returns: the spool needs no broker
    assert spool.held == 19
    broker.up = True

    await eventually(lambda: spool.held == 0)
    assert sorted(broker.values()) == sorted(f"v{n}".encode() for n in range(20))


async def test_sink_mode_keeps_entries_until_the_sink_has_written_them(
    make_spool, forward, broker, item, eventually
) -> None:
    async with make_spool(mode="sink") as spool:
        forwarder = await forward(spool)
        await spool.append([item(0, key=b"k"), item(1, key=b"k"), item(2, key=b"k")])
        await eventually(lambda: forwarder.caught_up)
        [(topic, partition)] = broker.logs
        assert spool.held == 3

        spool.release("epoch-1", topic, partition, 1)  # the sink wrote offsets 0 and 1

        assert (spool.low, spool.held) == (2, 1)


async def test_a_new_broker_incarnation_gets_every_entry_the_sink_had_not_written(
    make_spool, forward, broker, item, eventually
) -> None:
    async with make_spool(mode="sink") as spool:
        forwarder = await forward(spool)
        await spool.append([item(n, key=b"k") for n in range(6)])
        await eventually(lambda: forwarder.caught_up)
        [(topic, partition)] = broker.logs
        spool.release("epoch-1", topic, partition, 3)  # entries 0..3 are in Parquet

        broker.up = False  # the embedded broker stops: its topics are gone
        await spool.append([item(6, key=b"k")])  # still answered
        broker.restart("epoch-2")
        await eventually(lambda: broker.values() == [b"v4", b"v5", b"v6"])

        assert forwarder.epoch_changes == 1
        assert spool.epoch == "epoch-2"
        assert spool.held == 3
        spool.release("epoch-1", topic, partition, 5)  # old offsets mean nothing now...
        assert spool.held == 1  # ...except those the old sink really wrote (4, 5)
        spool.release("epoch-2", topic, partition, 2)
        assert spool.held == 0


async def test_a_restart_of_the_broker_while_idle_is_noticed(
    make_spool, forward, broker, item, eventually
) -> None:
    async with make_spool(mode="sink") as spool:
        forwarder = await forward(spool)
        await spool.append([item(0), item(1)])
        await eventually(lambda: forwarder.caught_up and len(broker.values()) == 2)

        broker.restart("epoch-2")  # nothing new is published: the idle probe finds it

        await eventually(lambda: len(broker.values()) == 2 and spool.epoch == "epoch-2")
        assert forwarder.epoch_changes == 1


async def test_entries_kept_by_a_previous_process_are_sent_at_start(
    make_spool, forward, broker, item, eventually
) -> None:
    async with make_spool() as before:
        await before.append([item(n) for n in range(4)])  # never forwarded: "crash"

    async with make_spool() as spool:
        await forward(spool)
        await eventually(lambda: spool.held == 0)

    assert sorted(broker.values()) == [b"v0", b"v1", b"v2", b"v3"]


async def test_offsets_given_out_again_make_the_forwarder_send_what_was_there_again(
    make_spool, forward, broker, item, eventually
) -> None:
    async with make_spool(mode="sink") as spool:
        forwarder = await forward(spool)
        await spool.append([item(n, key=b"k") for n in range(4)])
        await eventually(lambda: forwarder.caught_up)
        [(topic, partition)] = broker.logs

        broker.forget_from(topic, partition, 2)  # v2 and v3 are overwritten by what comes next
        await spool.append([item(4, key=b"k")])
        await eventually(lambda: forwarder.offsets_reused == 1 and forwarder.caught_up)

        # v4 was acknowledged at offset 2 (refused); then everything unreleased went again.
        assert broker.values() == [b"v0", b"v1", b"v4", b"v0", b"v1", b"v2", b"v3", b"v4"]
        spool.release("epoch-1", topic, partition, 2)
        assert spool.held == 3  # v0, v1 (offsets 0, 1); not v2, v3: offset 2 is v4 now
        spool.release("epoch-1", topic, partition, 7)
        assert spool.held == 0
