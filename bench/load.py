"""The load generator: OCPP 2.0.1 stations sending MeterValues, one call in flight each.

Kept in its own module so that ``python -m bench`` can run it in a separate process.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import websockets
from websockets.typing import Subprotocol

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
READINGS_PER_FRAME = 10


def meter_values_frame(message_id: str, evse_id: int, ts: datetime, register_wh: float) -> str:
    """An OCPP 2.0.1 MeterValues CALL with 10 readings (register, power, 3 I, 3 U, SoC, f)."""
    sampled = [
        {
            "value": register_wh,
            "measurand": "Energy.Active.Import.Register",
            "unitOfMeasure": {"unit": "Wh"},
        },
        {"value": 11.04, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}},
        *({"value": 16.0, "measurand": "Current.Import", "phase": p} for p in ("L1", "L2", "L3")),
        *({"value": 230.0, "measurand": "Voltage", "phase": p} for p in ("L1-N", "L2-N", "L3-N")),
        {"value": 55, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
        {"value": 50.0, "measurand": "Frequency", "unitOfMeasure": {"unit": "Hz"}},
    ]
    payload = {
        "evseId": evse_id,
        "meterValue": [
            {"timestamp": ts.isoformat().replace("+00:00", "Z"), "sampledValue": sampled}
        ],
    }
    return json.dumps([2, message_id, "MeterValues", payload])


async def _station(url: str, station: str, messages: int, latencies: list[float]) -> None:
    subprotocols = [Subprotocol("ocpp2.0.1")]
    async with websockets.connect(f"{url}/{station}", subprotocols=subprotocols) as ws:
        register = 1000.0
        for i in range(messages):
            register += 184.0  # 11.04 kW for one minute
            frame = meter_values_frame(f"{station}-{i}", 1, T0 + timedelta(minutes=i), register)
            sent = time.perf_counter()
            await ws.send(frame)
            answer = json.loads(await ws.recv())
            latencies.append(time.perf_counter() - sent)
            if answer[0] != 3:
                raise RuntimeError(f"{station}: connector refused a frame: {answer}")


async def _stations(url: str, stations: int, per_station: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(_station(url, f"BENCH-{s:04d}", per_station, latencies) for s in range(stations))
    )
    return time.perf_counter() - started, latencies


def run_stations(url: str, stations: int, per_station: int) -> tuple[float, list[float]]:
    """In the load process: all stations, until each sent its frames; (seconds, latencies)."""
    return asyncio.run(_stations(url, stations, per_station))
