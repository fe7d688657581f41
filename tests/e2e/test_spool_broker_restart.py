"""End to end: the broker goes away mid-stream and comes back empty; nothing is lost.

Real `ocpp` 2.0.1 charge points send meter values continuously to the real connector,
which keeps them in its spool (sink release mode, as with the embedded broker); the
forwarder takes them to an embedded Tansu broker and the warehouse sink writes them to
Parquet, releasing them from the spool. Mid-stream the broker is stopped (its topics are
in memory: gone) while the stations go on sending and must keep getting CALLRESULTs; then a
new broker is started on the same port (a new epoch: every partition starts at offset 0
again) and a new sink with it, as an operator would: a sink follows one broker epoch (its
file names carry it), so the old one is stopped and a new one, in a consumer group of its
own, is started for the new broker. The forwarder notices the new epoch and sends again
everything the old sink had not written. At the end every reading the stations were
answered for is in the warehouse exactly once (the `meter_readings` view shows a reading
sent twice, at least once into Kafka, once).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import websockets
from aiokafka import AIOKafkaConsumer
from ocpp.v201 import ChargePoint, call, datatypes
from websockets.typing import Subprotocol

from connectors.ocpp.server import serve_ocpp
from connectors.spool import Forwarder, KafkaTarget, Spool
from connectors.spool.frames import SpoolEntry
from gridstream import topics
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.producer import RecordProducer
from gridstream.records import DeadLetter, MeterSample, Reading
from gridstream.registry import SiteRegistry
from warehouse.query import run_query
from warehouse.sink import ParquetSink, make_sink_consumer, run_sink

pytestmark = [
    pytest.mark.e2e,
    # kafka-python (topic setup) reads its protocol schemas with a deprecated importlib call.
    pytest.mark.filterwarnings("ignore:(read_text|open_text) is deprecated:DeprecationWarning"),
]

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
STATIONS = 4
Sent = tuple[str, datetime, str, float]
"""(station, ts, measurand, value) of a reading a station was answered CALLRESULT for."""


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    """Wait (polling) until ``predicate()``; fail naming ``what`` after ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"waited {timeout_s} s for {what}")


async def station(url: str, station_id: str, stop: asyncio.Event, sent: list[Sent]) -> None:
    """Send MeterValues (register and power) one at a time until ``stop``; every call must
    be answered CALLRESULT (``suppress=False`` raises on a CALLERROR)."""
    async with websockets.connect(
        f"{url}/{station_id}", subprotocols=[Subprotocol("ocpp2.0.1")]
    ) as ws:
        cp = ChargePoint(station_id, ws, response_timeout=60)
        reader = asyncio.create_task(cp.start())
        n = 0
        while not stop.is_set():
            ts = T0 + timedelta(minutes=n)
            register_wh = 1000.0 + 250.0 * n
            values = [
                datatypes.SampledValueType(
                    value=register_wh,
                    measurand="Energy.Active.Import.Register",
                    unit_of_measure=datatypes.UnitOfMeasureType(unit="Wh"),
                ),
                datatypes.SampledValueType(
                    value=15000.0,
                    measurand="Power.Active.Import",
                    unit_of_measure=datatypes.UnitOfMeasureType(unit="W"),
                ),
            ]
            stamp = ts.isoformat().replace("+00:00", "Z")
            await cp.call(
                call.MeterValues(
                    evse_id=1,
                    meter_value=[datatypes.MeterValueType(timestamp=stamp, sampled_value=values)],
                ),
                suppress=False,
            )
            sent.append((station_id, ts, "Energy.Active.Import.Register", register_wh))
            sent.append((station_id, ts, "Power.Active.Import", 15000.0))
            n += 1
            await asyncio.sleep(0.02)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


@dataclass
class RunningSink:
    """A warehouse sink for one broker epoch, releasing the spool as it writes."""

    sink: ParquetSink
    consumer: AIOKafkaConsumer
    stop: asyncio.Event
    task: asyncio.Task[object]

    @classmethod
    async def start(cls, broker: EmbeddedBroker, data_dir: Path, spool: Spool) -> RunningSink:
        sink = ParquetSink(data_dir, broker.cluster_id)
        # A consumer group per epoch: a consumer of the old sink that is still closing when
        # the new broker comes up on the same port must not commit its old epoch's offsets
        # into the new sink's group (the sink would resume from them: warehouse/sink.py
        # seek_to_resume does not compare a commit's epoch).
        consumer = make_sink_consumer(
            broker.bootstrap, f"warehouse-{broker.cluster_id}", [t.name for t in topics.ALL], sink
        )
        await consumer.start()
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_sink(consumer, sink, 0.3, stop, on_written=spool.release), name="sink"
        )
        return cls(sink, consumer, stop, task)

    def rows(self) -> int:
        return self.sink.stats().rows_written.get(topics.METER_SAMPLES.name, 0)

    async def let_go_of_its_broker(self) -> None:
        """Its broker is gone: stop the loop (the last flush still writes, and releases,
        what it read) and drop the subscription, so that this consumer, still connected
        to the port, neither commits into nor asks for topics on (auto-creating them) the
        broker that comes up there next."""
        self.stop.set()
        await asyncio.sleep(1)  # the loop's poll (0.3 s) returns and the loop ends
        self.consumer.unsubscribe()

    async def finish(self, timeout_s: float = 60.0) -> None:
        """Stop; the last flush writes what was read. With its broker gone the commit can
        hang: the files are what counts, so give up on the commit after ``timeout_s``."""
        self.stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout_s)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self.consumer.stop(), timeout_s)


async def start_broker(port: int | None = None) -> EmbeddedBroker:
    broker = EmbeddedBroker(port=port)
    await asyncio.to_thread(broker.start)
    await asyncio.to_thread(ensure_topics, broker.bootstrap)
    return broker


async def test_every_reading_reaches_the_warehouse_once_across_a_broker_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    sent: list[Sent] = []
    stop_stations = asyncio.Event()
    first = await start_broker()
    second: EmbeddedBroker | None = None
    try:
        async with Spool(tmp_path / "spool", max_bytes=64 << 20, mode="sink") as spool:
            forwarder = Forwarder(
                spool, KafkaTarget(first.bootstrap, request_timeout_s=5), backoff_max_s=1
            )
            await forwarder.start()
            old_sink = await RunningSink.start(first, data_dir, spool)

            async def dead_letter(letter: DeadLetter) -> None:
                await spool.publish([letter])

            server = await serve_ocpp(
                "127.0.0.1", 0, publish=spool.publish, dead_letter=dead_letter,
                registry=SiteRegistry(), now=lambda: datetime.now(UTC), id_token_key=b"k",
            )  # fmt: skip
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            stations = [
                asyncio.create_task(station(url, f"CP-{i}", stop_stations, sent))
                for i in range(STATIONS)
            ]

            # 1. Streaming: readings reach the warehouse through the first broker.
            await until(lambda: old_sink.rows() >= 20, "the first rows in the warehouse")

            # 2. The broker goes away; the stations keep sending and keep being answered.
            await asyncio.to_thread(first.stop)
            answered = len(sent)
            await old_sink.let_go_of_its_broker()
            await until(lambda: len(sent) >= answered + 2 * 40, "answers while away")
            assert not any(t.done() for t in stations)  # no station got a CALLERROR
            assert spool.held > 0

            # 3. A new broker on the same port (new epoch, empty), and a sink for it.
            second = await start_broker(first.port)
            assert second.cluster_id != first.cluster_id
            await old_sink.finish()
            new_sink = await RunningSink.start(second, data_dir, spool)
            await until(lambda: forwarder.epoch_changes == 1, "the forwarder to see the epoch")
            answered = len(sent)
            await until(lambda: len(sent) >= answered + 2 * 40, "answers after the restart")

            # 4. The stations stop; everything they were answered for becomes durable.
            stop_stations.set()
            await asyncio.gather(*stations)
            await until(lambda: spool.held == 0, "the spool to be released")
            await new_sink.finish()
            await forwarder.stop()
            server.close()
            await server.wait_closed()
    finally:
        for broker in (first, second):
            if broker is not None:
                await asyncio.to_thread(broker.stop)

    assert spool.stats().refused == 0
    assert forwarder.offsets_reused == 0
    _, rows = run_query(data_dir, "SELECT station_id, ts, measurand, value FROM meter_readings")
    stored = Counter(
        (station_id, ts, measurand, value) for station_id, ts, measurand, value in rows
    )
    assert set(stored) == set(sent)  # none missing, none made up
    assert [reading for reading, count in stored.items() if count > 1] == []
    assert len(sent) == len(set(sent)) >= 2 * (20 + 80)
    # The first broker's sink wrote what it had read; the second sink the rest.
    _, epochs = run_query(data_dir, "SELECT DISTINCT _epoch FROM meter_samples ORDER BY 1")
    assert [e for (e,) in epochs] == sorted([first.cluster_id, second.cluster_id])


async def test_forwarded_records_land_where_the_record_producer_would_put_them(
    tmp_path: Path,
) -> None:
    samples = [
        MeterSample(
            ts=T0 + timedelta(seconds=i),
            station_id=f"st{i}",
            site_id=f"site{i % 7}",
            source="ocpp2.0.1",
            received_at=T0,
            readings=(Reading(measurand="SoC", value=i, unit="%"),),
        )
        for i in range(40)
    ]
    broker = await start_broker()
    try:
        target = KafkaTarget(broker.bootstrap)
        await target.connect()
        entries = [
            SpoolEntry(i, topics.METER_SAMPLES.name, topics.key_of(s), s.to_json())
            for i, s in enumerate(samples)
        ]
        acks = await target.send(entries)
        assert await target.epoch() == broker.cluster_id
        await target.close()
        async with RecordProducer(broker.bootstrap) as producer:
            await producer.publish(samples)
        consumer = AIOKafkaConsumer(
            topics.METER_SAMPLES.name, bootstrap_servers=broker.bootstrap,
            auto_offset_reset="earliest",
        )  # fmt: skip
        await consumer.start()
        try:
            found: dict[bytes, list[tuple[int, int]]] = {}
            while sum(len(v) for v in found.values()) < 2 * len(samples):
                for tp, messages in (await consumer.getmany(timeout_ms=2000)).items():
                    for m in messages:
                        found.setdefault(m.value, []).append((tp.partition, m.offset))
        finally:
            await consumer.stop()
    finally:
        await asyncio.to_thread(broker.stop)

    for sample, ack in zip(samples, acks, strict=True):
        [(spooled_partition, spooled_offset), (produced_partition, _)] = sorted(
            found[sample.to_json()], key=lambda p_o: p_o[1]
        )
        assert (ack.partition, ack.offset) == (spooled_partition, spooled_offset)
        assert spooled_partition == produced_partition  # same key, same partition
