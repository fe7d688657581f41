"""``python -m bench.handshake``: what a reconnect storm costs the OCPP connector.

S stations open a websocket at once (a storm, as after a network outage), close, and do it
again. Three rounds against the real server on 127.0.0.1:

1. no authentication (security profile 0);
2. HTTP Basic, first connection of each station: one scrypt check each (cold cache);
3. HTTP Basic, the same stations reconnecting: answered from the verification cache.

Reported per round: wall time, handshakes/s, the server process's CPU time per handshake
(all its threads, so the KDF runs count), the time until a station was in (p50/p99) and
the attempts it took (a handshake still waiting for its check after the handshake timeout
is dropped; the station retries a second later). The stations run in a process of their
own, as in ``python -m bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import websockets
from websockets.typing import Subprotocol

from connectors.ocpp.auth import Authenticator
from connectors.ocpp.credentials import StationCredential, hash_password
from connectors.ocpp.server import OcppServer, serve_ocpp
from gridstream.records import DeadLetter, Record
from gridstream.registry import SiteRegistry

PASSWORD = "Bench-password-0123456789abcdef"


def _header(station: str) -> dict[str, str]:
    raw = f"{station}:{PASSWORD}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def _open_and_close(url: str, station: str) -> tuple[float, int]:
    """Seconds until the station was in, and how many attempts it took.

    A handshake the server drops (its handshake timeout) is retried after a second, as a
    station does (they back off for longer).
    """
    started = time.perf_counter()
    for attempt in range(1, 1000):
        try:
            async with websockets.connect(
                f"{url}/{station}",
                subprotocols=[Subprotocol("ocpp2.0.1")],
                additional_headers=_header(station),
                open_timeout=120,
            ):
                return time.perf_counter() - started, attempt
        except (OSError, websockets.InvalidHandshake, TimeoutError):
            await asyncio.sleep(1.0)
    raise RuntimeError(f"{station} never got in")


async def _storm(url: str, stations: int) -> tuple[float, list[float], int]:
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(_open_and_close(url, f"HS-{s:05d}") for s in range(stations)))
    attempts = sum(a for _, a in outcomes)
    return time.perf_counter() - started, sorted(t for t, _ in outcomes), attempts


def run_storm(url: str, stations: int) -> tuple[float, list[float], int]:
    """In the load process: all stations open and close once, at the same time."""
    return asyncio.run(_storm(url, stations))


async def _serve(authenticator: Authenticator | None) -> OcppServer:
    async def publish(records: Sequence[Record]) -> None:
        return None

    async def dead_letter(letter: DeadLetter) -> None:
        return None

    return await serve_ocpp(
        "127.0.0.1",
        0,
        publish=publish,
        dead_letter=dead_letter,
        registry=SiteRegistry(),
        now=lambda: datetime.now(UTC),
        id_token_key=b"bench",
        authenticator=authenticator,
    )


async def _round(pool: ProcessPoolExecutor, server: OcppServer, stations: int) -> dict[str, float]:
    cpu = time.process_time()
    elapsed, latencies, attempts = await asyncio.get_running_loop().run_in_executor(
        pool, run_storm, f"ws://127.0.0.1:{server.port}/ocpp", stations
    )
    cpu = time.process_time() - cpu
    return {
        "seconds": elapsed,
        "handshakes_per_s": stations / elapsed,
        "server_cpu_ms_per_handshake": cpu / stations * 1000,
        "attempts": attempts,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


async def main(stations: int) -> dict[str, dict[str, float]]:
    """The three rounds; one scrypt hash (default cost) shared by every station's entry."""
    password_hash = hash_password(PASSWORD.encode(), secrets.token_bytes(16))
    credentials = {
        f"HS-{s:05d}": StationCredential(f"HS-{s:05d}", 1, password_hash) for s in range(stations)
    }
    results: dict[str, dict[str, float]] = {}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        async with await _serve(None) as server:
            await _round(pool, server, 1)  # warm the load process's imports
            results["no authentication"] = await _round(pool, server, stations)
        authenticator = Authenticator(credentials, secret=secrets.token_bytes(32))
        async with await _serve(authenticator) as server:
            results["basic, first connection (scrypt)"] = await _round(pool, server, stations)
            results["basic, reconnect (cached)"] = await _round(pool, server, stations)
        results["counters"] = {
            "kdf_checks": authenticator.counters.kdf_checks,
            "cache_hits": authenticator.counters.cache_hits,
            "refused": authenticator.counters.refused,
        }
    return results


def report(results: dict[str, dict[str, float]]) -> str:
    """One line per round."""
    lines = []
    for name, r in results.items():
        if name == "counters":
            lines.append(", ".join(f"{k} {v:.0f}" for k, v in r.items()))
            continue
        lines.append(
            f"{name:34}: {r['handshakes_per_s']:7.0f} handshakes/s, server CPU "
            f"{r['server_cpu_ms_per_handshake']:6.2f} ms each, latency p50 {r['p50_ms']:7.1f} ms "
            f"p99 {r['p99_ms']:7.1f} ms ({r['seconds']:.1f} s, {r['attempts']:.0f} attempts)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.handshake", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--stations", type=int, default=500)
    args = parser.parse_args()
    print(report(asyncio.run(main(args.stations))))
