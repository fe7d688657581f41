"""Streaming equals batch: a million readings through the stream, and again in one pass.

100,000 meter samples of 10 readings (250 sites, two EVSEs each, a sample a minute for 200
minutes) go through the real embedded broker, the real Faust worker with every computation
and the real Parquet sink, messy on purpose: 2 % of the samples arrive late (10 to 30
minutes of event time behind, within the allowed lateness), 1 % are sent twice, a few
registers are misread as 0; grid signals (a congestion area's import limit, day-ahead
prices with a negative one) and the registry's sites (contracted capacities, areas, BRPs)
are in place first. Then ``warehouse.replay`` runs the same computations over the stored
samples in time order, and every figure of the warehouse views must equal the batch's,
value by value: site loads, monthly and highest peaks, capacity tariffs, capacity
violations and V2X balances.

Left out: peak alerts and grid-code events (they depend on the order readings arrive in,
by design: an alert is what was known when a reading came), flexibility and compliance
(they follow side inputs, charging needs and limits, as they arrive; none are sent here).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gridstream import topics
from gridstream.broker import BrokerInfo, EmbeddedBroker, ensure_topics
from gridstream.parts import start_sink, start_worker
from gridstream.producer import RecordProducer
from gridstream.records import (
    CapacityTariff,
    CapacityViolation,
    DeadLetter,
    EnergyBalance,
    GridSignal,
    HighestPeak,
    MeterSample,
    Peak,
    QuarterHourLoad,
    Reading,
    SiteAssignment,
)
from gridstream.registry import SiteRegistry
from gridstream.settings import Settings
from streams.compute.analytics import analytics
from streams.compute.computation import BatchContext, SiteLoad
from streams.compute.processor import SiteConfig
from streams.compute.signal_book import SignalBook
from warehouse.backfill import read_samples
from warehouse.query import run_query
from warehouse.replay import differences, latest, replay

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SITES = 250
MINUTES = 200
ZONE = "10YBE----------2"
AREA = "AREA-NORTH"


def power_w(site: int, evse: int, minute: int) -> float:
    """EVSE 1 draws 2 to 8 kW, changing every quarter-hour; EVSE 2 of every fifth site is
    V2X (charging 3 kW, discharging 4 kW from minute 60 to 120), the others 0 to 3 kW."""
    if evse == 1:
        return 2_000.0 + 1_000.0 * ((minute // 15 + site) % 7)
    if site % 5 == 0:
        return -4_000.0 if 60 <= minute < 120 else 3_000.0
    return 1_500.0 * (site % 3)


def fleet() -> list[MeterSample]:
    """Every EVSE's samples in time order, registers integrating its power."""
    registers = {(s, e): [10_000.0 * (s + 1), 0.0] for s in range(SITES) for e in (1, 2)}
    out = []
    for minute in range(MINUTES):
        for site in range(SITES):
            for evse in (1, 2):
                imp, exp = registers[(site, evse)]
                p = power_w(site, evse, minute)
                misread = evse == 1 and site % 50 == 3 and minute == 77
                readings = [
                    Reading(measurand="Energy.Active.Import.Register",
                            value=0.0 if misread else round(imp, 3), unit="Wh"),
                    Reading(measurand="Energy.Active.Export.Register", value=round(exp, 3),
                            unit="Wh"),
                    Reading(measurand="Power.Active.Import", value=max(p, 0.0), unit="W"),
                    Reading(measurand="Power.Active.Export", value=max(-p, 0.0), unit="W"),
                    Reading(measurand="SoC", value=50.0 + minute / 10, unit="%"),
                    *(Reading(measurand="Voltage", value=230.0, unit="V", phase=ph)
                      for ph in ("L1-N", "L2-N")),
                    *(Reading(measurand="Current.Import", value=abs(p) / 690, unit="A", phase=ph)
                      for ph in ("L1", "L2", "L3")),
                ]  # fmt: skip
                ts = T0 + timedelta(minutes=minute)
                out.append(
                    MeterSample(
                        ts=ts, station_id=f"CS{site}", site_id=f"SITE{site}", evse_id=evse,
                        transaction_id=f"TX{site}-{evse}", source="simulator", received_at=ts,
                        readings=tuple(readings),
                    )
                )  # fmt: skip
                # the power in force over the next minute
                registers[(site, evse)] = [imp + max(p, 0.0) / 60, exp + max(-p, 0.0) / 60]
    return out


def arrival_order(samples: list[MeterSample], rng: random.Random) -> list[MeterSample]:
    """2 % late by 10 to 30 minutes of event time, 1 % sent twice (the copy 0-5 min later)."""
    per_minute = SITES * 2
    keyed: list[tuple[float, int, MeterSample]] = []
    for i, sample in enumerate(samples):
        slot = float(i)
        if rng.random() < 0.02:
            slot += per_minute * rng.uniform(10, 30)
        keyed.append((slot, i, sample))
        if rng.random() < 0.01:
            keyed.append((i + per_minute * rng.uniform(0, 5), i, sample))
    return [s for _, _, s in sorted(keyed, key=lambda k: (k[0], k[1]))]


def registry() -> SiteRegistry:
    out = SiteRegistry()
    for site in range(SITES):
        out.assign(
            SiteAssignment(
                station_id=f"CS{site}", site_id=f"SITE{site}", contracted_capacity_w=9_000,
                congestion_area=AREA if site % 4 == 1 else f"AREA-{site % 4}",
                brp="10X1001A1001A094", bidding_zone=ZONE, timezone="Europe/Brussels",
            )
        )  # fmt: skip
    return out


def signals() -> list[GridSignal]:
    """AREA-NORTH limited to 6 kW from minute 30 to 90; a day-ahead price per quarter-hour."""
    limit = GridSignal(
        kind="import_capacity_limit", scope_type="congestion_area", scope_id=AREA,
        interval_start=T0 + timedelta(minutes=30), interval_end=T0 + timedelta(minutes=90),
        resolution="PT60M", value=6_000.0, unit="W", source="test", document_id="limit-1",
        revision=1, received_at=T0,
    )  # fmt: skip
    prices = [
        GridSignal(
            kind="day_ahead_price",
            scope_type="bidding_zone",
            scope_id=ZONE,
            interval_start=T0 + timedelta(minutes=15 * q),
            interval_end=T0 + timedelta(minutes=15 * (q + 1)),
            resolution="PT15M",
            value=-12.5 if q == 5 else 40.0 + 3 * q,
            unit="EUR/MWh",
            source="test",
            document_id="prices-1",
            revision=1,
            received_at=T0,
        )  # fmt: skip
        for q in range(MINUTES // 15 + 1)
    ]
    return [limit, *prices]


async def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def rows(
    data_dir: Path, sql: str, key: Callable[[dict[str, Any]], Hashable]
) -> dict[Hashable, dict[str, Any]]:
    columns, found = run_query(data_dir, sql)
    return {key(r): r for r in (dict(zip(columns, row, strict=True)) for row in found)}


async def test_a_million_messy_readings_give_the_stream_the_batch_s_figures(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", sink_flush_interval_s=0.5)
    samples = fleet()
    assert sum(len(s.readings) for s in samples) >= 1_000_000
    arriving = arrival_order(samples, random.Random(16))
    sites = registry()
    book = SignalBook()
    book.add_all(signals())

    with EmbeddedBroker() as embedded:
        ensure_topics(embedded.bootstrap)
        broker = BrokerInfo(embedded.bootstrap, embedded.cluster_id, embedded=True)
        producer = RecordProducer(broker.bootstrap, client_id="test-input")
        await producer.start()
        try:
            await producer.publish(signals())
            async with contextlib.AsyncExitStack() as parts:

                async def dead_letter(letter: DeadLetter) -> None:
                    raise AssertionError(f"the sink refused a record: {letter}")

                sink = (await start_sink(parts, settings, broker, dead_letter)).sink
                part = await start_worker(parts, settings, broker, sites, follow_registry=False)
                # The worker's signal feed has every signal before the first sample.
                await wait_until(lambda: len(part.worker.signals) == len(signals()), 60, "signals")
                for i in range(0, len(arriving), 5_000):
                    await producer.publish(arriving[i : i + 5_000])
                produced = {
                    p: off for (t, p), off in producer.acked.items()
                    if t == topics.METER_SAMPLES.name
                }  # fmt: skip
                await wait_until(
                    lambda: all(part.worker.processed.get(p, -1) >= o for p, o in produced.items()),
                    300, "the worker",
                )  # fmt: skip
                outputs = dict(part.producer.acked)
                await wait_until(
                    lambda: all(sink.flushed_offsets().get(tp, 0) > o for tp, o in outputs.items()),
                    120, "the sink",
                )  # fmt: skip
        finally:
            await producer.stop()

    data = settings.data_dir
    stored = read_samples(data)
    assert len(stored) == len(arriving)  # every sample kept, duplicates too
    batch = replay(
        stored,
        [SiteLoad(SiteConfig.from_settings(settings)), *analytics(settings)],
        BatchContext.of_registry(T0, sites, signals=book),
        settings.worker_batch_size,
    )

    loads = rows(
        data, "SELECT * FROM quarter_hour_load", lambda r: (r["site_id"], r["interval_start"])
    )
    assert len(loads) > SITES * 12
    assert differences(loads, latest(batch, QuarterHourLoad), ["import_wh", "export_wh"]) == []
    peaks = rows(data, "SELECT * FROM peaks", lambda r: (r["site_id"], r["month"]))
    assert len(peaks) == SITES
    assert differences(peaks, latest(batch, Peak), ["peak_w", "interval_start"]) == []
    highest = rows(
        data, "SELECT * FROM highest_peaks",
        lambda r: (r["site_id"], r["station_id"], r["evse_id"], r["transaction_id"]),
    )  # fmt: skip
    assert len(highest) > SITES  # per site, and per meter
    assert differences(highest, latest(batch, HighestPeak), ["peak_w", "interval_start"]) == []
    tariffs = rows(data, "SELECT * FROM capacity_tariff", lambda r: (r["site_id"], r["month"]))
    assert len(tariffs) == SITES
    assert (
        differences(
            tariffs, latest(batch, CapacityTariff), ["billed_peak_w", "average_billed_peak_w"]
        )
        == []
    )

    violations = rows(
        data, "SELECT * FROM capacity_violations WHERE state <> 'withdrawn'",
        lambda r: r["violation_id"],
    )  # fmt: skip
    judged = {
        k: v
        for k, v in latest(batch, CapacityViolation).items()
        if v.state != "withdrawn"  # type: ignore[attr-defined]
    }
    assert len(violations) > 10  # both the contracts and AREA-NORTH's limit are exceeded
    assert {v["limit_source"] for v in violations.values()} >= {"contract"}
    assert differences(
        violations, judged,
        ["state", "start", "end", "quarter_hours", "limit_w", "max_exceedance_w",
         "energy_above_limit_wh"],
    ) == []  # fmt: skip

    balances = rows(
        data, "SELECT * FROM v2x_balances",
        lambda r: (r["scope"], r["site_id"], r["station_id"], r["evse_id"], r["transaction_id"],
                   r["interval_start"]),
    )  # fmt: skip
    assert any(b["import_price_eur_mwh"] == -12.5 for b in balances.values())
    assert differences(
        balances, latest(batch, EnergyBalance),
        ["import_wh", "export_wh", "net_wh", "import_cost_eur", "export_value_eur"],
    ) == []  # fmt: skip

    # The mess was there: the five misreads were dropped as outliers, in both.
    _, [(outliers,)] = run_query(
        data, "SELECT count(DISTINCT raw) FROM dead_letters WHERE reason = 'outlier'"
    )
    assert (
        outliers
        == SITES // 50
        == sum(1 for r in batch if isinstance(r, DeadLetter) and r.reason == "outlier")
    )
