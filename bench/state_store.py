"""``python -m bench.state_store``: what a worker's checkpoints cost at 10,000 sites.

Builds the state of ``--sites`` sites (one EVSE each, a reading a minute for ``--minutes``)
with the site chain, then measures, in one run:

1. a checkpoint of one batch: the sites a batch of 1,000 samples touches, serialised and
   written to the local store (``streams.state_store``) with the offset, against the same
   write of every site (what the JSON snapshot did after every batch);
2. restoring the partition from the local store (read and ``SiteState.from_dict``);
3. with ``--topic``, writing every site to the checkpoint topic on an embedded broker and
   reading it back to a barrier (``streams.checkpoint_log``), as a worker on another host
   does when the partition moves to it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from gridstream.records import MeterSample, Reading
from streams.compute.processor import SiteConfig, SiteState, process_batch
from streams.compute.quarter_hour import QuarterHourConfig
from streams.state_store import StateStore

START = datetime(2026, 1, 15, tzinfo=UTC)


def build_states(sites: int, minutes: int) -> dict[str, SiteState]:
    """The state of ``sites`` sites after ``minutes`` of one-minute register readings."""
    config = SiteConfig(
        QuarterHourConfig(max_gap=timedelta(minutes=5), allowed_lateness=timedelta(hours=1))
    )
    states: dict[str, SiteState] = {}
    for minute in range(minutes):
        ts = START + timedelta(minutes=minute)
        batch = [
            MeterSample(
                ts=ts,
                station_id=f"CS{site}",
                site_id=f"SITE{site}",
                evse_id=1,
                source="simulator",
                received_at=ts,
                readings=(
                    Reading(
                        measurand="Energy.Active.Import.Register",
                        value=1_000.0 + 120.0 * minute,
                        unit="Wh",
                    ),
                ),
            )
            for site in range(sites)
        ]
        process_batch(states, batch, config, lambda _: ZoneInfo("UTC"), ts)
    return states


def _timed(fn: object, *args: object) -> float:
    began = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - began


def measure(sites: int, minutes: int, topic: bool) -> dict[str, float]:
    """The figures, in seconds and bytes."""
    states = build_states(sites, minutes)
    entries = {f"site_load:{k}": orjson.dumps(v.to_dict()) for k, v in states.items()}
    touched = dict(list(entries.items())[:1_000])
    out: dict[str, float] = {
        "sites": float(sites),
        "bytes_per_site": sum(map(len, entries.values())) / len(entries),
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / "state.sqlite3", "bench")
        out["write_all_s"] = _timed(store.save, "meter.samples", 0, 1, entries)
        out["write_batch_s"] = _timed(store.save, "meter.samples", 0, 2, touched)
        began = time.perf_counter()
        checkpoint = store.load("meter.samples", 0)
        assert checkpoint is not None and len(checkpoint.entries) == sites
        restored = {k: SiteState.from_dict(orjson.loads(v)) for k, v in checkpoint.entries.items()}
        out["restore_s"] = time.perf_counter() - began
        assert len(restored) == sites
        store.close()
    if topic:
        out |= asyncio.run(_topic(entries))
    return out


async def _topic(entries: dict[str, bytes]) -> dict[str, float]:
    from gridstream.broker import EmbeddedBroker, ensure_topics
    from streams.checkpoint_log import CheckpointLog

    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        log = CheckpointLog(broker.bootstrap, "bench")
        await log.start()
        try:
            began = time.perf_counter()
            await log.write(0, 1, entries)
            written = time.perf_counter() - began
            began = time.perf_counter()
            checkpoint = await log.read(0)
            read = time.perf_counter() - began
        finally:
            await log.stop()
    assert checkpoint is not None and len(checkpoint.entries) == len(entries)
    return {"topic_write_all_s": written, "topic_read_s": read}


def report(figures: dict[str, float]) -> str:
    """One line per figure."""
    lines = [
        f"sites {figures['sites']:.0f}, {figures['bytes_per_site']:.0f} bytes of state per site",
        f"checkpoint of a batch (1,000 sites touched): {figures['write_batch_s'] * 1000:8.1f} ms"
        f"   every site (the old snapshot): {figures['write_all_s'] * 1000:8.1f} ms",
        f"restore the partition from the local store: {figures['restore_s']:8.2f} s",
    ]
    if "topic_read_s" in figures:
        lines.append(
            f"checkpoint topic: write every site {figures['topic_write_all_s']:6.2f} s, "
            f"read back to the barrier {figures['topic_read_s']:6.2f} s"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.state_store", description=__doc__)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=90)
    parser.add_argument("--topic", action="store_true", help="also the checkpoint topic")
    args = parser.parse_args()
    print(report(measure(args.sites, args.minutes, args.topic)))
