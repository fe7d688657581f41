"""OCPI receiver throughput: session PATCHes per second over real HTTP, acks=all first.

``bench_ocpi`` serves the real receiver (uvicorn, Starlette) with a ``RecordProducer`` as its
publish (so every answer waits for the broker's acknowledgement, as the OCPP ingest figure
does), registers one partner, PUTs ``sessions`` sessions and sends each ``patches``
PATCHes of one charging period (ENERGY, POWER, CURRENT, STATE_OF_CHARGE: a sample of five
readings and an ``updated`` event per PATCH), ``concurrency`` requests in flight. Then
``raw_produce`` (``bench.scale_connector``) sends the same records, serialised beforehand,
with a plain aiokafka producer for as long: the yardstick in the same run.

The HTTP clients (httpx) run in a process of their own, as partners are elsewhere: the
receiver's figure is then not shared with the load generator's CPU (httpx costs more per
request than the receiver does). On a 2-core machine the two still compete.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.scale_connector import Payload, raw_produce
from connectors.ocpi import OcpiReceiver, PartnerStore, PartyRef, serve_ocpi
from gridstream import topics
from gridstream.producer import RecordProducer
from gridstream.records import DeadLetter, MeterSample, Record

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def _session(sid: str) -> dict[str, Any]:
    return {
        "country_code": "BE", "party_id": "BEC", "id": sid,
        "start_date_time": T0.isoformat(), "kwh": 0.0,
        "cdr_token": {"country_code": "BE", "party_id": "BEC", "uid": "RFID1", "type": "RFID",
                      "contract_id": "BE-BEC-C1"},
        "auth_method": "WHITELIST", "location_id": "L1", "evse_uid": f"E-{sid}",
        "connector_id": "1", "currency": "EUR", "status": "ACTIVE",
        "last_updated": T0.isoformat(),
    }  # fmt: skip


def _patch(k: int) -> dict[str, Any]:
    start = T0 + timedelta(minutes=15 * k)
    return {
        "kwh": 2.5 * (k + 1),
        "charging_periods": [
            {"start_date_time": start.isoformat(),
             "dimensions": [{"type": "ENERGY", "volume": 2.5}, {"type": "POWER", "volume": 10},
                            {"type": "CURRENT", "volume": 16}, {"type": "STATE_OF_CHARGE",
                                                                "volume": 20 + k % 80}]}
        ],
        "last_updated": (start + timedelta(minutes=15)).isoformat(),
    }  # fmt: skip


async def bench_ocpi(
    bootstrap: str, sessions: int, patches: int, concurrency: int
) -> dict[str, float]:
    """PATCH requests/s and readings/s through the receiver, then the raw produce rate."""
    producer = RecordProducer(bootstrap, client_id="bench-ocpi")
    await producer.start()
    produced: list[Record] = []

    async def publish(records: Sequence[Record]) -> None:
        await producer.publish(records)
        produced.extend(records)

    async def dead_letter(letter: DeadLetter) -> None:
        await producer.publish([letter])

    async def peer(url: str, token_b: str) -> Sequence[Mapping[str, Any]]:
        return [{"version": "2.2.1", "url": url}]

    with tempfile.TemporaryDirectory() as tmp:
        store = PartnerStore(Path(tmp) / "partners.json")
        token_a = store.add(PartyRef("BE", "BEC"), "CPO")
        receiver = OcpiReceiver(
            publish=publish,
            dead_letter=dead_letter,
            partners=store,
            site_of=lambda station: station,
            now=lambda: datetime.now(UTC),
            peer=peer,
            own_party=PartyRef("NL", "GRS"),
            id_token_key=b"bench",
        )
        server = await serve_ocpi("127.0.0.1", 0, receiver)
        limits = httpx.Limits(max_connections=concurrency)
        base = f"http://127.0.0.1:{server.port}/ocpi/2.2.1"
        try:
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
                token_c = await _register(client, token_a)
                auth = {"Authorization": "Token " + base64.b64encode(token_c.encode()).decode()}
                for s in range(sessions):
                    await client.put(f"/sessions/BE/BEC/S{s}", json=_session(f"S{s}"), headers=auth)
                produced.clear()
                spawn = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                    elapsed, latencies = await asyncio.get_running_loop().run_in_executor(
                        pool, run_patches, base, auth, sessions, patches, concurrency
                    )
        finally:
            await server.close()
            await producer.stop()
    requests = sessions * patches
    readings = sum(len(r.readings) for r in produced if isinstance(r, MeterSample))
    latencies.sort()
    payloads: list[Payload] = [
        (topics.for_record(r).name, r.to_json(), topics.key_of(r)) for r in produced
    ]
    raw = await raw_produce(bootstrap, payloads, max(elapsed, 2.0), concurrency, {})
    return {
        "requests": requests,
        "seconds": elapsed,
        "patches_per_s": requests / elapsed,
        "records_per_s": len(produced) / elapsed,
        "readings_per_s": readings / elapsed,
        "answer_p50_ms": latencies[len(latencies) // 2] * 1000,
        "answer_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "raw_records_per_s": raw["records_per_s"],
        "raw_readings_per_s": raw["records_per_s"] * readings / max(len(produced), 1),
    }


async def _register(client: httpx.AsyncClient, token_a: str) -> str:
    creds = {"token": "b", "url": "http://partner.bench/versions",
             "roles": [{"role": "CPO", "country_code": "BE", "party_id": "BEC"}]}  # fmt: skip
    header = {"Authorization": "Token " + base64.b64encode(token_a.encode()).decode()}
    answer = await client.post("/credentials", json=creds, headers=header)
    token: str = answer.json()["data"]["token"]
    return token


def run_patches(
    base: str, auth: dict[str, str], sessions: int, patches: int, concurrency: int
) -> tuple[float, list[float]]:
    """In a load process: every session's PATCHes; (elapsed seconds, answer latencies)."""

    async def run() -> tuple[float, list[float]]:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            return await _patches(client, auth, sessions, patches, concurrency)

    return asyncio.run(run())


async def _patches(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessions: int,
    patches: int,
    concurrency: int,
) -> tuple[float, list[float]]:
    """Send every session's PATCHes in order, ``concurrency`` sessions at a time."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for s in range(sessions):
        queue.put_nowait(s)

    async def worker() -> None:
        while not queue.empty():
            s = queue.get_nowait()
            for k in range(patches):
                sent = time.perf_counter()
                answer = await client.patch(f"/sessions/BE/BEC/S{s}", json=_patch(k), headers=auth)
                latencies.append(time.perf_counter() - sent)
                if answer.json()["status_code"] != 1000:
                    raise RuntimeError(f"PATCH refused: {answer.text}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def report(result: dict[str, float]) -> str:
    """One line for the OCPI figures beside the raw produce loop of the same run."""
    ratio = result["records_per_s"] / result["raw_records_per_s"]
    return (
        f"OCPI session PATCHes (acks=all)  : {result['patches_per_s']:10.0f} PATCH/s "
        f"({result['readings_per_s']:.0f} readings/s, {result['records_per_s']:.0f} records/s)  "
        f"answer p50 {result['answer_p50_ms']:.1f} ms p99 {result['answer_p99_ms']:.1f} ms\n"
        f"raw aiokafka produce, same records: {result['raw_records_per_s']:10.0f} records/s "
        f"({result['raw_readings_per_s']:.0f} readings/s)  OCPI/raw ratio {ratio:.3f}"
    )
