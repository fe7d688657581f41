"""A load process of the scale bench: thousands of raw-websocket OCPP stations.

Runs in a process of its own (``run_load``), started by ``bench.scale`` with one end of a
pipe. It obeys commands one at a time and answers each with its result:

- ``Connect(count)``: open ``count`` more connections (at most ``connect_concurrency``
  handshakes at once), each sending BootNotification and waiting for its answer;
- ``Traffic(...)``: every connected station sends Heartbeat or MeterValues CALLs, one in
  flight per connection as OCPP requires, either as soon as the previous answer came
  (``interval_s`` 0) or every ``interval_s`` seconds, until ``window_end``; answers that
  arrive inside [``window_start``, ``window_end``) are counted, with their latencies;
- ``Close()``: close every connection and stop.

Times are ``time.monotonic()`` values, which on Linux are the same clock in every process,
so the bench process can set one measured window for all load processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Literal, TypeAlias

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench.scale_frames import Version, boot_frame, heartbeat_frame, meter_frame, version_of
from bench.scale_stats import rss_kib

#: Wh added to a station's register per MeterValues frame (11 kW for one minute).
WH_PER_FRAME = 184.0
#: Spreads paced stations over the interval (the golden ratio's fractional part).
_SPREAD = 0.6180339887498949


@dataclass(frozen=True)
class LoadConfig:
    """What one load process needs to know: where, who and how to connect."""

    url: str  # ws://host:port/ocpp
    process_index: int
    versions: tuple[Version, ...]
    compression: bool  # offer permessage-deflate, as websockets clients do by default
    connect_concurrency: int
    open_timeout_s: float
    answer_timeout_s: float


@dataclass(frozen=True)
class Connect:
    """Open ``count`` more station connections."""

    count: int


#: What a station sends in a traffic phase.
Action: TypeAlias = Literal["Heartbeat", "MeterValues"]


@dataclass(frozen=True)
class Traffic:
    """Send ``action`` CALLs from every station from ``start_at`` until ``window_end``."""

    action: Action
    start_at: float
    window_start: float
    window_end: float
    interval_s: float  # 0: the next CALL as soon as the answer came


@dataclass(frozen=True)
class Close:
    """Close every connection and end the process."""


Command: TypeAlias = Connect | Traffic | Close


@dataclass
class StepResult:
    """The outcome of one ``Connect``: how many came up, how long it took."""

    connected: int
    failed: int
    failures: dict[str, int]
    seconds: float
    rss_kib: int


@dataclass
class TrafficResult:
    """The outcome of one ``Traffic``: answers inside the window and their latencies."""

    sent: int
    answered: int  # CALLRESULTs received inside the window
    errors: dict[str, int]  # CALLERRORs by code, timeouts and closed connections
    latencies_s: array[float]  # per answered CALL inside the window
    cpu_s: float  # this process's CPU time inside the window
    rss_kib: int
    stations: int  # connected when the traffic started


def phase_offset_s(index: int, interval_s: float) -> float:
    """When station ``index`` sends first within a paced interval: spread, not bunched.

    >>> phase_offset_s(0, 10.0), round(phase_offset_s(1, 10.0), 3)
    (0.0, 6.18)
    """
    return (index * _SPREAD) % 1.0 * interval_s


@dataclass
class _Tally:
    sent: int = 0
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_s: array[float] = field(default_factory=lambda: array("d"))


class _Station:
    """One connection: its id, version and counters. Lighter than an ``ocpp`` ChargePoint."""

    __slots__ = ("index", "station_id", "version", "ws", "calls", "register_wh")

    def __init__(self, index: int, station_id: str, version: Version, ws: ClientConnection):
        self.index = index
        self.station_id = station_id
        self.version = version
        self.ws = ws
        self.calls = 0
        self.register_wh = 1000.0

    def next_id(self) -> str:
        self.calls += 1
        return str(self.calls)

    async def call(self, frame: str, message_id: str, timeout_s: float) -> tuple[int, str]:
        """Send one CALL and wait for its answer: (message type, error code or '')."""
        await self.ws.send(frame)
        async with asyncio.timeout(timeout_s):
            answer = json.loads(await self.ws.recv())
        if answer[1] != message_id:
            raise RuntimeError(f"{self.station_id}: answer to {answer[1]}, expected {message_id}")
        return answer[0], answer[2] if answer[0] == 4 else ""


class Fleet:
    """The stations of one load process."""

    def __init__(self, config: LoadConfig) -> None:
        """Hold the config; stations come with ``connect``."""
        self.config = config
        self.stations: list[_Station] = []
        self._next_index = 0

    async def connect(self, count: int) -> StepResult:
        """Open ``count`` more connections, each booted; count the failures by kind."""
        gate = asyncio.Semaphore(self.config.connect_concurrency)
        failures: Counter[str] = Counter()
        started = time.monotonic()
        indexes = range(self._next_index, self._next_index + count)
        self._next_index += count
        results = await asyncio.gather(*(self._open(i, gate, failures) for i in indexes))
        up = [s for s in results if s is not None]
        self.stations.extend(up)
        return StepResult(
            connected=len(up),
            failed=count - len(up),
            failures=dict(failures),
            seconds=time.monotonic() - started,
            rss_kib=rss_kib(os.getpid()),
        )

    async def _open(
        self, index: int, gate: asyncio.Semaphore, failures: Counter[str]
    ) -> _Station | None:
        cfg = self.config
        station_id = f"SCALE-{cfg.process_index}-{index:05d}"
        version = version_of(index, cfg.versions)
        async with gate:
            try:
                ws = await connect(
                    f"{cfg.url}/{station_id}",
                    subprotocols=[Subprotocol(version)],
                    compression="deflate" if cfg.compression else None,
                    open_timeout=cfg.open_timeout_s,
                    ping_interval=None,  # the server's pings are the ones measured
                    close_timeout=5,
                )
            except Exception as exc:  # any failure is a figure of the run, not a crash
                failures[f"connect: {type(exc).__name__}"] += 1
                return None
            station = _Station(index, station_id, version, ws)
            message_id = station.next_id()
            try:
                kind, code = await station.call(
                    boot_frame(version, message_id, station_id), message_id, cfg.answer_timeout_s
                )
            except Exception as exc:
                failures[f"boot: {type(exc).__name__}"] += 1
                await ws.close()
                return None
            if kind != 3:
                failures[f"boot: CALLERROR {code}"] += 1
                await ws.close()
                return None
            return station

    async def traffic(self, cmd: Traffic) -> TrafficResult:
        """Every station sends ``cmd.action`` CALLs until the window ends; tally the answers."""
        tally = _Tally()
        stations = list(self.stations)
        cpu_at: dict[str, float] = {}

        async def mark(name: str, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            cpu_at[name] = time.process_time()

        await asyncio.gather(
            mark("start", cmd.window_start),
            mark("end", cmd.window_end),
            *(self._run(s, cmd, tally) for s in stations),
        )
        self.stations = [s for s in self.stations if s.ws.close_code is None]
        return TrafficResult(
            sent=tally.sent,
            answered=tally.answered,
            errors=dict(tally.errors),
            latencies_s=tally.latencies_s,
            cpu_s=cpu_at["end"] - cpu_at["start"],
            rss_kib=rss_kib(os.getpid()),
            stations=len(stations),
        )

    async def _run(self, station: _Station, cmd: Traffic, tally: _Tally) -> None:
        timeout_s = self.config.answer_timeout_s
        next_at = cmd.start_at
        if cmd.interval_s > 0:
            next_at += phase_offset_s(station.index, cmd.interval_s)
        while True:
            now = time.monotonic()
            if now < next_at:
                await asyncio.sleep(next_at - now)
                now = time.monotonic()
            if now >= cmd.window_end:
                return
            message_id = station.next_id()
            if cmd.action == "Heartbeat":
                frame = heartbeat_frame(message_id)
            else:
                station.register_wh += WH_PER_FRAME
                ts = datetime.now(UTC)
                frame = meter_frame(station.version, message_id, ts, station.register_wh)
            tally.sent += 1
            sent = time.monotonic()
            try:
                kind, code = await station.call(frame, message_id, timeout_s)
            except Exception as exc:  # closed, timed out, or an answer to another call
                # A late answer would be taken for the next one: this station is done.
                tally.errors[type(exc).__name__] += 1
                await station.ws.close()
                return
            answered = time.monotonic()
            if cmd.window_start <= answered < cmd.window_end:
                if kind == 3:
                    tally.answered += 1
                    tally.latencies_s.append(answered - sent)
                else:
                    tally.errors[f"CALLERROR {code}"] += 1
            next_at = max(next_at + cmd.interval_s, answered) if cmd.interval_s > 0 else answered

    async def close(self) -> None:
        """Close every connection."""
        await asyncio.gather(*(s.ws.close() for s in self.stations), return_exceptions=True)
        self.stations = []


async def _obey(pipe: Connection, config: LoadConfig) -> None:
    loop = asyncio.get_running_loop()
    fleet = Fleet(config)
    while True:
        # The pipe is read in a thread: the stations' connections keep being served.
        command: Command = await loop.run_in_executor(None, pipe.recv)
        if isinstance(command, Connect):
            pipe.send(await fleet.connect(command.count))
        elif isinstance(command, Traffic):
            pipe.send(await fleet.traffic(command))
        else:
            await fleet.close()
            pipe.send(None)
            return


def run_load(pipe: Connection, config: LoadConfig) -> None:
    """Entry point of a load process: obey the commands arriving on ``pipe`` until Close."""
    asyncio.run(_obey(pipe, config))
