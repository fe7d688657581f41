"""The yardstick every worker figure is a ratio to: a plain aiokafka getmany + orjson loop.

Its own module so that ``bench.__main__`` and the benches it runs (``bench.worker_scale``)
can both use it without importing each other.
"""

from __future__ import annotations

import time

import orjson
from aiokafka import AIOKafkaConsumer

from gridstream import topics


async def bench_baseline(bootstrap: str, expected: int, passes: int = 3) -> dict[str, float]:
    """A plain aiokafka getmany + orjson loop over meter.samples: the yardstick.

    A pass over a few thousand records takes a fraction of a second, so one pass is at the
    mercy of the machine's noise: the median of ``passes`` is reported.
    """
    runs = [await _baseline_pass(bootstrap, expected) for _ in range(passes)]
    return sorted(runs, key=lambda r: r["records_per_s"])[len(runs) // 2]


async def _baseline_pass(bootstrap: str, expected: int) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        topics.METER_SAMPLES.name,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen = readings = 0
    started: float | None = None
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if started is None and batches:
                started = time.perf_counter()
            for messages in batches.values():
                for m in messages:
                    readings += len(orjson.loads(m.value)["readings"])
                    seen += 1
    finally:
        await consumer.stop()
    elapsed = time.perf_counter() - (started or time.perf_counter())
    return {
        "records": seen,
        "seconds": elapsed,
        "records_per_s": seen / elapsed,
        "readings_per_s": readings / elapsed,
    }
