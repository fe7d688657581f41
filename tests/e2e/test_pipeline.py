"""End to end: real `ocpp` charge points -> websocket -> Tansu -> Faust -> Parquet -> DuckDB.

The fleet simulator's stations are the `ocpp` package's client classes; everything they
send goes through the real connector, the embedded Tansu broker, the Faust worker and the
warehouse sink. What the warehouse says must equal what the simulated meters counted, as
DOMAIN.md defines it (the ledger), quirks included: the default fleet's first hour has
readings off the boundaries, offline queues sent late, misreads ("0", a digit read as 0
and one read as 9), a meter reset, a power-only EVSE, a reused transaction id and a site
that charges and discharges at once (``simulator.fleet.default_fleet``).
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import websockets
from aiokafka import AIOKafkaConsumer

from gridstream.broker import EmbeddedBroker
from gridstream.pipeline import RunOptions, run
from gridstream.records import QuarterHourLoad
from gridstream.settings import Settings
from simulator.fleet import default_fleet, small_fleet
from simulator.ledger import Ledger
from streams.compute import SiteConfig
from streams.compute.violations import ViolationConfig, violations_of
from warehouse.backfill import compare, quarter_hour_load, read_samples, stream_quarter_hours
from warehouse.query import run_query

pytestmark = pytest.mark.e2e

T_ANY = datetime(2026, 1, 1, tzinfo=UTC)  # as_of of recomputed figures: any time will do


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap=None,
        ocpp_port=0,
        ocpi_port=0,
        data_dir=tmp_path / "data",
        sink_flush_interval_s=0.5,
    )


async def test_quarter_hour_energy_in_duckdb_equals_what_the_simulated_meters_counted(
    settings: Settings,
) -> None:
    fleet = default_fleet(random.Random(7))
    ledger = Ledger(
        fleet.site_of(),
        max_gap=timedelta(seconds=settings.max_gap_s),
        net_step=timedelta(seconds=settings.net_step_s),
    )
    # 300x real time: 12 real seconds are one simulated hour (four quarter-hours).
    result = await run(settings, RunOptions(duration_s=12, speed=300), fleet=fleet, ledger=ledger)

    expected = ledger.quarter_hour_energy()
    assert len(expected) >= 3 * 4  # three sites, at least four quarter-hours each
    # The hour had its quirks: three misreads, a reset, a power-only EVSE, a site exporting
    # (and a reused transaction id: sessions, below).
    assert len(ledger.misreads()) == 3
    assert any(r.meter_no == 1 for r in ledger.readings("ANT-DEPOT-DC1", 1))
    assert ledger.powers("BRU-RETAIL-AC2", 1)
    assert any(export_wh > 0 for _, export_wh in expected.values())
    columns, rows = run_query(
        settings.data_dir,
        "SELECT site_id, interval_start, import_wh, export_wh, avg_import_w "
        "FROM quarter_hour_load ORDER BY site_id, interval_start",
    )
    got = {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}
    assert set(got) == set(expected)
    for key, (import_wh, export_wh) in expected.items():
        got_import, got_export, avg_import_w = got[key]
        assert got_import == pytest.approx(import_wh, abs=1e-6), key
        assert got_export == pytest.approx(export_wh, abs=1e-6), key
        assert avg_import_w == pytest.approx(import_wh / 0.25, abs=1e-6), key
    assert sum(imp for imp, _ in expected.values()) > 0
    assert result.messages_rejected == 0

    # Each misread the stations sent was dropped and dead-lettered, and nothing else was.
    _, rows = run_query(
        settings.data_dir, "SELECT DISTINCT raw FROM dead_letters WHERE reason = 'outlier'"
    )
    dropped = {
        (r["station_id"], r["evse_id"], datetime.fromisoformat(r["ts"]), r["value"])
        for r in (json.loads(raw) for (raw,) in rows)
    }
    assert dropped == {(m.station_id, m.evse_id, m.ts, m.sent_wh) for m in ledger.misreads()}
    assert result.outliers == len(dropped)

    # Each EVSE's own gross figures (the per-EVSE view) are its meter's, to the Wh: the V2X
    # EVSE's export and the power-only EVSE's trapezoid included.
    _, rows = run_query(
        settings.data_dir,
        "SELECT station_id, evse_id, interval_start, import_wh, export_wh "
        "FROM evse_quarter_hour_load",
    )
    per_evse = {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}
    gross = ledger.meter_quarter_hour_energy()
    assert set(gross) <= set(per_evse)
    for key, (import_wh, export_wh) in gross.items():
        assert per_evse[key] == (
            pytest.approx(import_wh, abs=1e-6),
            pytest.approx(export_wh, abs=1e-6),
        ), key

    # The batch path over the stored samples says the same as the stream, to the Wh.
    batch = quarter_hour_load(
        read_samples(settings.data_dir), SiteConfig.from_settings(settings), as_of=T_ANY
    )
    assert compare(stream_quarter_hours(settings.data_dir), batch) == []
    assert len(batch) == len(expected)

    # Capacity violations: the stream's (judged revision by revision as the loads came in)
    # are the ones the ledger's final quarter-hours hold against the contracted capacities.
    judged = violations_of(
        [
            QuarterHourLoad(
                site_id=site, interval_start=start, import_wh=imp, export_wh=exp,
                avg_import_w=imp / 0.25, avg_export_w=exp / 0.25, meters=1, completeness=1.0,
                estimated=False, revision=0, computed_by="ledger", as_of=T_ANY,
            )
            for (site, start), (imp, exp) in expected.items()
        ],
        ViolationConfig.from_settings(settings),
        {a.site_id: a for a in fleet.site_assignments()}.get,
    )  # fmt: skip
    assert judged, "the simulated hour exceeds a site's contracted capacity"
    _, rows = run_query(
        settings.data_dir,
        "SELECT violation_id, state, quarter_hours, limit_w, max_exceedance_w, "
        "energy_above_limit_wh FROM capacity_violations WHERE state <> 'withdrawn' "
        "ORDER BY violation_id",
    )
    assert rows == [
        (v.violation_id, v.state, v.quarter_hours, v.limit_w,
         pytest.approx(v.max_exceedance_w, abs=1e-3),
         pytest.approx(v.energy_above_limit_wh, abs=1e-3))
        for v in judged
    ]  # fmt: skip

    # Energy balances: a site's per period is its load; the sessions' include a discharge.
    _, site_rows = run_query(
        settings.data_dir,
        "SELECT site_id, interval_start, import_wh, export_wh FROM v2x_balance_sites "
        "EXCEPT SELECT site_id, interval_start, import_wh, export_wh FROM quarter_hour_load",
    )
    assert site_rows == []
    _, [(balanced, loads)] = run_query(
        settings.data_dir,
        "SELECT (SELECT count(*) FROM v2x_balance_sites), (SELECT count(*) FROM quarter_hour_load)",
    )
    assert balanced == loads
    _, [(sessions_balanced, exported_wh)] = run_query(
        settings.data_dir, "SELECT count(*), sum(export_wh) FROM v2x_balance_sessions"
    )
    assert sessions_balanced > 0 and exported_wh > 0

    # Flexibility: the V2X sessions told their needs (2.1 NotifyEVChargingNeeds), so their
    # congestion area has offers, and each offer is the sum of its sites' latest figures.
    _, offers = run_query(
        settings.data_dir,
        "SELECT congestion_area, interval_start, baseline_w, reduce_w, increase_w, sessions "
        "FROM flex_offers ORDER BY ALL",
    )
    # (GNT-OFFICE-V2X1 discharging at its 10 kW maximum can only take more: increase 21 kW)
    assert any(
        sessions > 0 and reduce_w + increase_w > 0 for *_, reduce_w, increase_w, sessions in offers
    )
    _, summed = run_query(
        settings.data_dir,
        "SELECT congestion_area, interval_start, sum(baseline_w), sum(reduce_w), "
        "sum(increase_w), sum(sessions) FROM site_flexibility GROUP BY ALL ORDER BY ALL",
    )
    assert offers == summed
    areas = {a.site_id: a.congestion_area for a in fleet.site_assignments()}
    assert {area for area, *_ in offers} <= set(areas.values())

    # Compliance: GNT-OFFICE-AC1 EVSE 1 reported an EMS limit of 7 kW (NotifyChargingLimit)
    # and kept charging at 11 kW. Each quarter-hour under the limit holds the EVSE's own
    # metered average against it; the ones it fully covered are judged (5 %, at least 100 W).
    _, checks = run_query(
        settings.data_dir,
        "SELECT interval_start, covered_s, planned_w, metered_w, compliant, limit_source "
        "FROM profile_compliance WHERE scope = 'evse' AND station_id = 'GNT-OFFICE-AC1' "
        "AND evse_id = 1",
    )
    assert checks
    for start, covered_s, planned_w, metered_w, compliant, source in checks:
        assert (planned_w, source) == (7_000, "EMS"), start
        metered = gross.get(("GNT-OFFICE-AC1", 1, start), (0.0, 0.0))[0] / 0.25
        assert metered_w == pytest.approx(metered, abs=1e-6), start
        assert compliant == (None if covered_s < 900 else metered_w - 7_000 <= 350), start
    # Whether a quarter-hour falls wholly under both the limit and the charging depends on
    # how late the stations start at 300x (a real second is five simulated minutes), so
    # the non-compliance itself is shown where time is simulated exactly
    # (tests/unit/simulator/test_sim_stations.py, tests/unit/streams/compute/test_compliance.py).

    # Grid-code checks: GNT-OFFICE-V2X1 EVSE 1 read 49.72 Hz for two minutes while it
    # discharged at its maximum (it could not discharge more: no response), and its EVSE 2
    # read 204 V on L1 for three. Each meter samples every 37 s or every minute, so an
    # event lasts its disturbance give or take one sample period.
    _, events = run_query(
        settings.data_dir,
        "SELECT kind, site_id, station_id, phase, direction, state, duration_s, extreme, "
        "sessions_affected, sessions_responded FROM grid_code_events ORDER BY kind",
    )
    [frequency, voltage] = events
    assert frequency[:6] == ("frequency", "BE-GNT-OFFICE", None, None, "under", "closed")
    assert (frequency[7], frequency[8], frequency[9]) == (49.72, 1, 0)
    assert 120 - 37 <= frequency[6] <= 120 + 37
    assert voltage[:6] == ("voltage", "BE-GNT-OFFICE", "GNT-OFFICE-V2X1", "L1-N", "under", "closed")
    assert voltage[7] == 204.0 and 180 - 60 <= voltage[6] <= 180 + 60

    # Early warnings went out while quarter-hours were open, each above what it crossed, at
    # most one per site, quarter-hour and limit.
    _, alerts = run_query(
        settings.data_dir,
        "SELECT alert_id, projected_w, crossed_w, reading_ts, interval_start FROM peak_alerts",
    )
    assert alerts
    for alert_id, projected_w, crossed_w, reading_ts, interval_start in alerts:
        assert projected_w > crossed_w, alert_id
        assert interval_start <= reading_ts < interval_start + timedelta(minutes=15), alert_id
    assert len({a[0] for a in alerts}) == len(alerts)

    # The monthly peak per site is the highest quarter-hour average import power.
    _, peaks = run_query(settings.data_dir, "SELECT site_id, peak_w FROM peaks")
    highest: dict[str, float] = {}
    for (site, _start), (import_wh, _) in expected.items():
        highest[site] = max(highest.get(site, 0.0), import_wh / 0.25)
    assert {site: pytest.approx(w) for site, w in highest.items() if w > 0} == {
        site: w for site, w in peaks if w > 0
    }

    # Every session the stations ended is a session with its energy, 1.6 and 2.x alike.
    # A power-only EVSE's sessions have no register, so no energy. A transaction id reused
    # after its Ended (BRU-RETAIL-DC1) is one row of the view, keyed by (station, id):
    # the energy of both sessions (the EVSE idles between them, its register still).
    _, rows = run_query(
        settings.data_dir,
        "SELECT station_id, transaction_id, energy_wh FROM sessions WHERE ended_at IS NOT NULL",
    )
    sessions = {(station, tx): wh for station, tx, wh in rows}
    energy: dict[tuple[str, str], float | None] = {}
    for s in ledger.sessions():
        if s.ended_at is None:
            continue
        key = (s.station_id, s.transaction_id)
        if s.meter_start_wh is None or s.meter_stop_wh is None:
            energy[key] = None
        else:
            energy[key] = (energy.get(key) or 0.0) + s.meter_stop_wh - s.meter_start_wh
    # A register lower at the end than at the start (ANT-DEPOT-DC1's meter reset inside a
    # session) says nothing of the session's energy: NULL, not a negative energy.
    energy = {k: None if wh is None or wh < 0 else wh for k, wh in energy.items()}
    assert sessions == {k: wh if wh is None else pytest.approx(wh) for k, wh in energy.items()}
    assert len(sessions) == len(energy) > 0
    assert ledger.sessions_ended > len(sessions)  # the reused transaction id


async def test_invalid_payload_gets_a_callerror_and_lands_in_the_dead_letter_view(
    settings: Settings,
) -> None:
    stop = asyncio.Event()
    answers: list[object] = []

    async def station(port: int) -> None:
        url = f"ws://127.0.0.1:{port}/ocpp/CP-BAD"
        async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:
            # "value" must be a decimal string; "" is a bad sample (PROTOCOLS.md §7).
            bad = {
                "connectorId": 1,
                "meterValue": [
                    {"timestamp": "2026-01-15T10:00:00Z", "sampledValue": [{"value": ""}]}
                ],
            }
            await ws.send(json.dumps([2, "bad-1", "MeterValues", bad]))
            answers.append(json.loads(await ws.recv()))
        stop.set()

    tasks: list[asyncio.Task[None]] = []
    result = await run(
        settings,
        RunOptions(simulator=False),
        stop=stop,
        on_ready=lambda r: tasks.append(asyncio.create_task(station(r.ocpp_port))),
    )
    await asyncio.gather(*tasks)

    [answer] = answers
    assert answer[:3] == [4, "bad-1", "PropertyConstraintViolation"]
    assert result.messages_rejected == 1
    _, rows = run_query(
        settings.data_dir, "SELECT station_id, message_id, reason, raw FROM dead_letters"
    )
    [(station_id, message_id, reason, raw)] = rows
    assert (station_id, message_id, reason) == ("CP-BAD", "bad-1", "bad_value")
    assert json.loads(raw)[2] == "MeterValues"


async def test_a_station_in_the_sites_file_reports_under_its_site(
    settings: Settings, tmp_path: Path
) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text("station_id,site_id,timezone\nCP-MAEVE,EAN-541448,Europe/Brussels\n")
    settings = settings.model_copy(update={"sites_file": sites})
    fixture = (
        Path(__file__).parents[1]
        / "fixtures/ocpp/v2.0.1_maeve_transactionevent_started.payload.json"
    )
    stop = asyncio.Event()

    async def station(port: int) -> None:
        url = f"ws://127.0.0.1:{port}/ocpp/CP-MAEVE"
        async with websockets.connect(url, subprotocols=["ocpp2.0.1"]) as ws:
            await ws.send(
                json.dumps([2, "te-1", "TransactionEvent", json.loads(fixture.read_text())])
            )
            assert json.loads(await ws.recv())[:2] == [3, "te-1"]
        stop.set()

    tasks: list[asyncio.Task[None]] = []
    await run(
        settings,
        RunOptions(simulator=False),
        stop=stop,
        on_ready=lambda r: tasks.append(asyncio.create_task(station(r.ocpp_port))),
    )
    await asyncio.gather(*tasks)

    _, rows = run_query(
        settings.data_dir, "SELECT station_id, site_id, measurand, value, ts FROM meter_readings"
    )
    # The fixture's register is 100 Wh at 12:00+01:00, that is 11:00 UTC.
    [(station_id, site_id, measurand, value, ts)] = rows
    assert (station_id, site_id, measurand, value) == (
        "CP-MAEVE",
        "EAN-541448",
        "Energy.Active.Import.Register",
        100.0,
    )
    assert ts.isoformat() == "2023-05-05T11:00:00+00:00"
    _, [(registered,)] = run_query(
        settings.data_dir, "SELECT site_id FROM site_registry WHERE station_id = 'CP-MAEVE'"
    )
    assert registered == "EAN-541448"


async def test_a_configured_broker_is_used_instead_of_the_embedded_one(
    settings: Settings,
) -> None:
    with EmbeddedBroker() as external:
        configured = settings.model_copy(update={"kafka_bootstrap": external.bootstrap})
        fleet = small_fleet(random.Random(3))
        ledger = Ledger(
            fleet.site_of(),
            max_gap=timedelta(seconds=configured.max_gap_s),
            net_step=timedelta(seconds=configured.net_step_s),
        )
        result = await run(
            configured, RunOptions(duration_s=3, speed=600), fleet=fleet, ledger=ledger
        )
        assert not result.broker.embedded
        assert result.broker.epoch == external.cluster_id
        # The run left its records on the configured broker.
        consumer = AIOKafkaConsumer(
            "meter.samples", bootstrap_servers=external.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=5000)
        finally:
            await consumer.stop()
        assert sum(len(messages) for messages in batches.values()) > 0
    _, rows = run_query(settings.data_dir, "SELECT sum(import_wh) FROM quarter_hour_load")
    # The site nets its V2X discharge against its charging per minute (DOMAIN.md, Intervals
    # and energy), and so does the ledger: the small fleet samples every minute boundary.
    assert rows[0][0] == pytest.approx(sum(i for i, _ in ledger.quarter_hour_energy().values()))
