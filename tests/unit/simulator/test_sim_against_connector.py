"""The simulator's stations against gridstream's own OCPP connector: every CALL accepted.

The stations are the ``ocpp`` package's clients (real websockets on 127.0.0.1); the
connector publishes into an in-memory list. Charging needs are on by default: the 2.1 V2X
session's NotifyEVChargingNeeds becomes an ``ev.charging_needs`` record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from connectors.ocpp import serve_ocpp
from gridstream.records import DeadLetter, EVChargingNeeds, Record, StationInfo
from gridstream.registry import SiteRegistry
from simulator import Ledger, SimOptions, run_fleet

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
FAST = 100_000.0  # an hour in 36 real ms


async def test_simulated_fleet_is_accepted_and_its_charging_needs_recorded(tiny) -> None:
    published: list[Record] = []
    dead: list[DeadLetter] = []

    async def publish(records: Sequence[Record]) -> None:
        published.extend(records)

    async def dead_letter(letter: DeadLetter) -> None:
        dead.append(letter)

    server = await serve_ocpp(
        "127.0.0.1",
        0,
        publish=publish,
        dead_letter=dead_letter,
        registry=SiteRegistry(),
        now=lambda: NOW,
        id_token_key=b"sim-test-key",
    )
    async with server:
        await run_fleet(
            f"ws://127.0.0.1:{server.port}/ocpp",
            tiny.fleet,
            speed=FAST,
            start=tiny.start,
            end=tiny.last_boundary,
            ledger=Ledger(tiny.fleet.site_of()),
            planner=tiny.planner,
            options=SimOptions(sample_interval=timedelta(minutes=5)),  # charging needs: default
        )

    assert dead == [] and server.counters.rejected == 0
    assert {r.station_id for r in published if isinstance(r, StationInfo)} == {"T16", "T21"}
    # T21's V2X session (10:00-10:30, 50 % -> 100 % of 100 kWh, discharging to 30 % at most)
    # asks once, when it starts.
    (needs,) = [r for r in published if isinstance(r, EVChargingNeeds)]
    assert (needs.station_id, needs.evse_id, needs.requested_energy_transfer) == (
        "T21",
        1,
        "DC_BPT",
    )
    assert needs.departure_time == datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
    assert (needs.target_soc_pct, needs.target_energy_wh) == (100.0, 50_000.0)  # 50 % of 100 kWh
    assert needs.min_v2x_energy_wh == -20_000.0  # down to 30 %: 20 % of 100 kWh may go out
    assert needs.max_discharge_power_w == 10_000.0
