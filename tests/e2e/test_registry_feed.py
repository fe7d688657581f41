"""The registry feed keeps an in-memory registry in step with registry.sites."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from aiokafka import AIOKafkaProducer

from gridstream import topics
from gridstream.broker import BrokerInfo, broker_session
from gridstream.producer import RecordProducer
from gridstream.records import EvseRating, SiteAssignment
from gridstream.registry import SiteRegistry
from gridstream.registry_feed import follow_registry

pytestmark = pytest.mark.e2e


@pytest.fixture
def broker() -> Iterator[BrokerInfo]:
    with broker_session(None) as info:
        yield info


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_assignments_and_tombstones_on_the_topic_reach_the_registry(
    broker: BrokerInfo,
) -> None:
    registry = SiteRegistry()
    stop = asyncio.Event()
    feed = asyncio.create_task(follow_registry(broker.bootstrap, registry, stop))
    async with RecordProducer(broker.bootstrap) as producer:
        await producer.publish([SiteAssignment(station_id="CP-1", site_id="DEPOT")])
        await eventually(lambda: registry.site_of("CP-1") == "DEPOT")

        # A changed entry (another site, an EVSE rating) takes effect without a restart.
        moved = SiteAssignment(
            station_id="CP-1",
            site_id="OFFICE",
            contracted_export_capacity_w=20_000,
            evses=(EvseRating(evse_id=1, rated_power_w=22_000),),
        )
        await producer.publish([moved])
        await eventually(lambda: registry.site_of("CP-1") == "OFFICE")
        assert registry.rated_power_w("CP-1", 1) == 22_000
        assert registry.assignment_of("CP-1") == moved

    raw = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await raw.start()
    try:  # a tombstone: the station left the registry and is its own site again
        await raw.send_and_wait(topics.REGISTRY_SITES.name, None, key=b"CP-1")
    finally:
        await raw.stop()
    await eventually(lambda: registry.site_of("CP-1") == "CP-1")

    stop.set()
    assert await feed == 2
