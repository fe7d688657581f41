"""Fixtures for the simulator: a tiny hand-computable scenario and an in-test CSMS.

The CSMS is built on the ``ocpp`` package's server-side ChargePoint classes with ``@on``
handlers, serves 1.6, 2.0.1 and 2.1 on 127.0.0.1 (port 0), answers every call, and keeps
each CALL frame it received (station, action, camelCase payload) for assertions.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Csms16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as Csms21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as Csms201
from ocpp.v201 import call_result as result201

from simulator import (
    Discharge,
    EvseSpec,
    Fleet,
    Sampling,
    Session,
    SessionPlanner,
    SiteSpec,
    StationSpec,
)

#: The CSMS's answer time; tests never read a clock.
CSMS_TIME = "2026-01-15T10:00:00Z"
START = datetime(2026, 1, 15, 10, tzinfo=UTC)


def at(hhmmss: str) -> datetime:
    """2026-01-15 at ``hh:mm[:ss]`` UTC."""
    parts = [int(p) for p in hhmmss.split(":")]
    return START.replace(hour=parts[0], minute=parts[1], second=parts[2] if len(parts) > 2 else 0)


# --- the tiny scenario --------------------------------------------------------------------


def _session(seed: int, arrival: str, departure: str, **extra: Any) -> Session:
    """A session far from its taper and its target, so power stays flat."""
    return Session(
        session_id=f"00000000-0000-4000-8000-{seed:012d}",
        arrival=at(arrival),
        departure=at(departure),
        id_token=f"TOKEN{seed}",
        capacity_wh=100_000.0,
        soc_start_pct=50.0,
        soc_target_pct=100.0,
        ev_max_power_w=50_000.0,
        taper_from_pct=90.0,
        efficiency=0.9,
        **extra,
    )


#: Sessions of the tiny scenario, keyed by EVSE seed (the planner receives the EvseSpec).
TINY_SESSIONS: dict[int, list[Session]] = {
    # T16 EVSE 1, AC 11 kW (11,040 W): 10:05-10:35.
    1: [_session(1, "10:05", "10:35")],
    # T16 EVSE 2, AC 7.4 kW (7,360 W): 10:22:30-10:37:30.
    2: [_session(2, "10:22:30", "10:37:30")],
    # T21 EVSE 1, V2X 11 kW: charges 10:00-10:09, discharges 10 kW 10:09-10:21,
    # charges 10:21-10:30.
    3: [
        _session(
            3,
            "10:00",
            "10:30",
            discharge=Discharge(at("10:09"), at("10:21"), power_w=10_000.0, min_soc_pct=30.0),
        )
    ],
}

#: What the site's meters count per quarter-hour, worked out by hand (Wh), gross:
#: [10:00, 10:15) import 11,040 W x 10 min = 1,840 (T16/1) + 11,000 W x 9 min = 1,650
#:                (T21/1) = 3,490; export 10,000 W x 6 min = 1,000 (T21/1)
#: [10:15, 10:30) import 11,040 W x 15 min = 2,760 + 7,360 W x 7.5 min = 920
#:                + 11,000 W x 9 min = 1,650 = 5,330; export 10,000 W x 6 min = 1,000
#: [10:30, 10:45) import 11,040 W x 5 min = 920 + 7,360 W x 7.5 min = 920 = 1,840
#: [10:45, 11:00) nothing.
#: Netted per minute at the site: whenever T21/1 discharges (10:09-10:21, 166.7 Wh a
#: minute), T16/1 charges 11,040 W (184 Wh a minute), so every minute is positive and
#: the export cancels against the import: 3,490 - 1,000 = 2,490; 5,330 - 1,000 = 4,330.
TINY_QUARTER_HOURS: dict[tuple[str, datetime], tuple[float, float]] = {
    ("TINY-SITE", at("10:00")): (2490.0, 0.0),
    ("TINY-SITE", at("10:15")): (4330.0, 0.0),
    ("TINY-SITE", at("10:30")): (1840.0, 0.0),
    ("TINY-SITE", at("10:45")): (0.0, 0.0),
}


def _tiny_planner(evse: EvseSpec, start: datetime) -> Iterator[Session]:
    """The tiny scenario's sessions for ``evse`` (by seed)."""
    return iter(TINY_SESSIONS[evse.seed])


def _tiny_fleet() -> Fleet:
    """One site: T16 (1.6, kWh registers; AC 11 kW, AC 7.4 kW) and T21 (2.1; V2X 11 kW).

    Both sample every minute boundary too: the site exports, so its load is netted per
    minute.
    """
    site = "TINY-SITE"
    t16 = StationSpec(
        "T16",
        site,
        "1.6",
        (
            EvseSpec(1, "ac_11kw", seed=1, initial_import_wh=1_000_000),
            EvseSpec(2, "ac_7kw", seed=2, initial_import_wh=2_000_000),
        ),
        energy_unit="kWh",
        sampling=Sampling(every_minute=True),
    )
    t21 = StationSpec(
        "T21",
        site,
        "2.1",
        (EvseSpec(1, "dc_v2x_11kw", seed=3, initial_import_wh=3_000_000, initial_export_wh=5_000),),
        sampling=Sampling(every_minute=True),
    )
    return Fleet(sites=(SiteSpec(site, (t16, t21)),))


@dataclass(frozen=True)
class TinyScenario:
    """A fleet, its planned sessions and what its meters count, worked out by hand."""

    fleet: Fleet
    planner: SessionPlanner
    quarter_hours: dict[tuple[str, datetime], tuple[float, float]]
    start: datetime
    last_boundary: datetime


@pytest.fixture
def tiny() -> TinyScenario:
    """The tiny scenario from 10:00 to the 11:00 boundary (last instant 11:01)."""
    return TinyScenario(_tiny_fleet(), _tiny_planner, TINY_QUARTER_HOURS, START, at("11:00"))


# --- the in-test CSMS ---------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """A CALL the CSMS received, and when (real ``time.monotonic()`` seconds)."""

    station_id: str
    action: str
    payload: dict[str, Any]
    received_s: float = 0.0


@dataclass
class Recorder:
    """What the in-test CSMS received, and how it should answer."""

    url: str = ""
    frames: list[Frame] = field(default_factory=list)
    #: Id tokens the CSMS does not accept (answers Invalid).
    refused_tokens: set[str] = field(default_factory=set)
    #: Actions whose handler fails, so the CSMS answers a CALLERROR (InternalError).
    failing_actions: set[str] = field(default_factory=set)

    def of(self, station_id: str, action: str) -> list[dict[str, Any]]:
        """Payloads of ``action`` from ``station_id``, in arrival order."""
        return [f.payload for f in self.frames if f.station_id == station_id and f.action == action]

    def check(self, action: str) -> None:
        if action in self.failing_actions:
            raise RuntimeError(f"{action} fails on purpose")


class _Tap:
    """A websocket that records every CALL it receives."""

    def __init__(self, ws: Any, station_id: str, recorder: Recorder) -> None:
        self._ws = ws
        self._station_id = station_id
        self._recorder = recorder

    async def recv(self) -> str:
        raw = await self._ws.recv()
        message = json.loads(raw)
        if message[0] == 2:
            self._recorder.frames.append(
                Frame(self._station_id, message[2], message[3], time.monotonic())
            )
        return raw

    async def send(self, data: str) -> None:
        await self._ws.send(data)


def _csms16(recorder: Recorder) -> type[Csms16]:
    counter = iter(range(1001, 10**6))

    class Csms(Csms16):
        @on("BootNotification")
        def boot_notification(self, **_: Any) -> Any:
            return result16.BootNotification(
                current_time=CSMS_TIME, interval=300, status="Accepted"
            )

        @on("StatusNotification")
        def status_notification(self, **_: Any) -> Any:
            return result16.StatusNotification()

        @on("Heartbeat")
        def heartbeat(self) -> Any:
            return result16.Heartbeat(current_time=CSMS_TIME)

        @on("StartTransaction")
        def start_transaction(self, id_tag: str, **_: Any) -> Any:
            recorder.check("StartTransaction")
            status = "Invalid" if id_tag in recorder.refused_tokens else "Accepted"
            return result16.StartTransaction(
                transaction_id=next(counter), id_tag_info={"status": status}
            )

        @on("MeterValues")
        def meter_values(self, **_: Any) -> Any:
            recorder.check("MeterValues")
            return result16.MeterValues()

        @on("StopTransaction")
        def stop_transaction(self, **_: Any) -> Any:
            return result16.StopTransaction()

    return Csms


def _csms2(recorder: Recorder, base: type[Any], result: Any) -> type[Any]:
    class Csms(base):  # type: ignore[misc, valid-type]
        @on("BootNotification")
        def boot_notification(self, **_: Any) -> Any:
            return result.BootNotification(current_time=CSMS_TIME, interval=300, status="Accepted")

        @on("StatusNotification")
        def status_notification(self, **_: Any) -> Any:
            return result.StatusNotification()

        @on("Heartbeat")
        def heartbeat(self, **_: Any) -> Any:
            return result.Heartbeat(current_time=CSMS_TIME)

        @on("TransactionEvent")
        def transaction_event(self, event_type: str, **kwargs: Any) -> Any:
            recorder.check("TransactionEvent")
            token = kwargs.get("id_token")
            if event_type == "Started" and token is not None:
                status = "Invalid" if token["id_token"] in recorder.refused_tokens else "Accepted"
                return result.TransactionEvent(id_token_info={"status": status})
            return result.TransactionEvent()

        @on("MeterValues")
        def meter_values(self, **_: Any) -> Any:
            recorder.check("MeterValues")
            return result.MeterValues()

        @on("NotifyEVChargingNeeds")
        def charging_needs(self, **_: Any) -> Any:
            return result.NotifyEVChargingNeeds(status="Accepted")

        @on("NotifyChargingLimit")
        def charging_limit(self, **_: Any) -> Any:
            recorder.check("NotifyChargingLimit")
            return result.NotifyChargingLimit()

    return Csms


@pytest.fixture
async def csms() -> AsyncIterator[Recorder]:
    """An OCPP CSMS on 127.0.0.1; ``recorder.url`` is the base to pass to ``run_fleet``."""
    recorder = Recorder()
    classes: dict[str, Callable[..., Any]] = {
        "ocpp1.6": _csms16(recorder),
        "ocpp2.0.1": _csms2(recorder, Csms201, result201),
        "ocpp2.1": _csms2(recorder, Csms21, result21),
    }

    async def handler(ws: Any) -> None:
        station_id = unquote(ws.request.path.rsplit("/", 1)[-1])
        cp = classes[ws.subprotocol](station_id, _Tap(ws, station_id, recorder))
        try:
            await cp.start()
        except websockets.ConnectionClosed:
            pass

    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=list(classes)) as server:
        port = server.sockets[0].getsockname()[1]
        recorder.url = f"ws://127.0.0.1:{port}/ocpp"
        yield recorder
