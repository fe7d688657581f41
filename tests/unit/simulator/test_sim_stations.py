"""Stations talk to a real CSMS over websockets on 127.0.0.1, and the ledger is what they sent."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from simulator import (
    EvseSpec,
    Fleet,
    Ledger,
    Offline,
    Sampling,
    SimOptions,
    SiteSpec,
    StationError,
    StationSpec,
    Visit,
    default_fleet,
    run_fleet,
    small_fleet,
)
from simulator.quirks import misread_wh

T0 = datetime(2026, 1, 15, 10, tzinfo=UTC)
#: Fast enough that no station ever waits for the clock: an hour in 36 real ms.
FAST = 100_000.0


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def wire(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def registers_16(frames: list[dict[str, Any]]) -> set[tuple[int, datetime, int]]:
    """(connector, ts, import Wh) of every 1.6 MeterValues register, kWh converted exactly."""
    out = set()
    for payload in frames:
        for mv in payload["meterValue"]:
            for sv in mv["sampledValue"]:
                if sv.get("measurand", "Energy.Active.Import.Register") == (
                    "Energy.Active.Import.Register"
                ):
                    scale = 1000 if sv.get("unit") == "kWh" else 1
                    wh = Decimal(sv["value"]) * scale
                    assert wh == int(wh)
                    out.add((payload["connectorId"], parse_time(mv["timestamp"]), int(wh)))
    return out


def registers_2x(payloads: list[dict[str, Any]], evse_of: dict[str, int]) -> set[tuple]:
    """(evse, ts, import Wh, export Wh) of every 2.x register in TransactionEvent/MeterValues."""
    out = set()
    for payload in payloads:
        evse_id = payload.get("evseId") or evse_of[payload["transactionInfo"]["transactionId"]]
        for mv in payload.get("meterValue", []):
            values = {sv["measurand"]: sv for sv in mv["sampledValue"]}
            imp = values["Energy.Active.Import.Register"]
            exp = values.get("Energy.Active.Export.Register")
            assert imp["unitOfMeasure"]["unit"] == "Wh"
            out.add(
                (
                    evse_id,
                    parse_time(mv["timestamp"]),
                    imp["value"],
                    None if exp is None else exp["value"],
                )
            )
    return out


#: Samples every 5 simulated minutes keep the tests short; boundaries are still sampled.
FIVE_MINUTES = SimOptions(sample_interval=timedelta(minutes=5))


async def test_a_16_and_a_21_station_report_what_the_ledger_holds(csms: Any, tiny: Any) -> None:
    ledger = Ledger(tiny.fleet.site_of())
    await run_fleet(
        csms.url,
        tiny.fleet,
        speed=FAST,
        start=tiny.start,
        end=tiny.last_boundary,
        ledger=ledger,
        planner=tiny.planner,
        options=SimOptions(sample_interval=timedelta(minutes=5), charging_needs=True),
    )

    # --- OCPP 1.6: Start, MeterValues with the transaction id, Stop --------------------
    starts = csms.of("T16", "StartTransaction")
    stops = csms.of("T16", "StopTransaction")
    assert [(s["connectorId"], s["timestamp"], s["meterStart"]) for s in starts] == [
        (1, wire(minutes(5)), 1_000_000),
        (2, wire(minutes(22.5)), 2_000_000),
    ]
    # 10:05-10:35 at 11,040 W is 5,520 Wh; 10:22:30-10:37:30 at 7,360 W is 1,840 Wh.
    assert [(s["transactionId"], s["meterStop"], s["reason"]) for s in stops] == [
        (1001, 1_005_520, "EVDisconnected"),
        (1002, 2_001_840, "EVDisconnected"),
    ]
    meter_values = csms.of("T16", "MeterValues")
    in_tx = [m for m in meter_values if m.get("transactionId") == 1001]
    # Every minute (the site is netted per minute) from the first after the start (the
    # 10:05 sample goes before StartTransaction) to the departure (its sample goes first).
    assert {parse_time(m["meterValue"][0]["timestamp"]) for m in in_tx} == {
        minutes(m) for m in range(6, 36)
    }
    first = meter_values[0]["meterValue"][0]["sampledValue"]
    assert first[0] == {
        "value": "1000.000",
        "context": "Sample.Clock",
        "measurand": "Energy.Active.Import.Register",
        "unit": "kWh",
    }
    assert {sv["measurand"] for sv in first} == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
    }

    # --- OCPP 2.1: Started, Updated (seqNo + 1 each), Ended ----------------------------
    events = csms.of("T21", "TransactionEvent")
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert [e["eventType"] for e in events][:2] == ["Started", "Updated"]
    assert events[-1]["eventType"] == "Ended"
    started = events[0]
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["idToken"] == {"idToken": "TOKEN3", "type": "ISO14443"}
    assert started["transactionInfo"]["operationMode"] == "ChargingOnly"
    modes = [
        (e["timestamp"], e["transactionInfo"]["operationMode"])
        for e in events
        if e["triggerReason"] == "OperationModeChanged"
    ]
    assert modes == [(wire(minutes(9)), "CentralSetpoint"), (wire(minutes(21)), "ChargingOnly")]
    ended = events[-1]
    assert ended["timestamp"] == wire(minutes(30))
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    at_1010 = [e for e in events if e["timestamp"] == wire(minutes(10))]  # discharging
    # 10:10 is a minute boundary, sampled as clock-aligned data.
    assert [e["triggerReason"] for e in at_1010] == ["MeterValueClock"]
    sample = {sv["measurand"]: sv for sv in at_1010[0]["meterValue"][0]["sampledValue"]}
    assert sample["Power.Active.Export"]["value"] == 10_000.0
    assert sample["Power.Active.Import"]["value"] == 0.0
    assert sample["Energy.Active.Export.Register"]["unitOfMeasure"] == {
        "unit": "Wh",
        "multiplier": 0,
    }
    needs = csms.of("T21", "NotifyEVChargingNeeds")
    assert len(needs) == 1 and needs[0]["chargingNeeds"]["requestedEnergyTransfer"] == "DC_BPT"
    assert csms.of("T21", "BootNotification") and csms.of("T16", "BootNotification")

    # --- the registers on the wire are the ledger's, and add up to the hand values ------
    connector_of = {tx: s["connectorId"] for tx, s in zip((1001, 1002), starts, strict=True)}
    sent_16 = registers_16(meter_values)
    sent_16 |= {(s["connectorId"], parse_time(s["timestamp"]), s["meterStart"]) for s in starts}
    sent_16 |= {
        (connector_of[s["transactionId"]], parse_time(s["timestamp"]), s["meterStop"])
        for s in stops
    }
    assert sent_16 == {
        (evse, r.ts, r.import_wh) for evse in (1, 2) for r in ledger.readings("T16", evse)
    }
    evse_of = {started["transactionInfo"]["transactionId"]: 1}
    sent_21 = registers_2x(events + csms.of("T21", "MeterValues"), evse_of)
    assert sent_21 == {(1, r.ts, r.import_wh, r.export_wh) for r in ledger.readings("T21", 1)}
    assert ledger.quarter_hour_energy() == tiny.quarter_hours
    assert (ledger.sessions_started, ledger.sessions_ended) == (3, 3)


async def test_a_stop_ends_one_sample_after_the_next_boundary_and_closes_sessions(
    csms: Any, tiny: Any
) -> None:
    # Speed 1: the stations report 10:00, then would wait a real minute for 10:01. The stop
    # comes first, at simulated 10:00:0x, so the run ends at the 10:15 boundary + 1 min,
    # sent at once; the sessions still open then (T16/1 since 10:05, T21/1 since 10:00)
    # end at 10:16 with reason Local.
    stop = asyncio.Event()
    ledger = Ledger(tiny.fleet.site_of())
    run = asyncio.create_task(
        run_fleet(
            csms.url,
            tiny.fleet,
            speed=1.0,
            start=tiny.start,
            stop=stop,
            ledger=ledger,
            planner=tiny.planner,
        )
    )
    for _ in range(500):
        if len(ledger.meters()) == 3:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(run, timeout=5)

    assert {r.ts for meter in ledger.meters() for r in ledger.readings(*meter)} == {
        minutes(m) for m in range(17)
    }
    assert [
        (s["meterStop"], s["reason"], s["timestamp"]) for s in csms.of("T16", "StopTransaction")
    ] == [
        (1_000_000 + 11 * 184, "Local", wire(minutes(16)))  # 11,040 W x 11 min
    ]
    ended = csms.of("T21", "TransactionEvent")[-1]
    assert (ended["eventType"], ended["transactionInfo"]["stoppedReason"]) == ("Ended", "Local")
    assert ledger.sessions_started == ledger.sessions_ended == 2
    assert sorted(ledger.quarter_hour_energy()) == [("TINY-SITE", minutes(0))]


async def test_a_callerror_fails_the_run_with_the_station_named(csms: Any, tiny: Any) -> None:
    csms.failing_actions.add("StartTransaction")  # T16 at 10:05; T21 is then cancelled
    with pytest.raises(StationError, match=r"station T16 \(OCPP 1.6\).*InternalError"):
        await run_fleet(
            csms.url,
            tiny.fleet,
            speed=FAST,
            start=tiny.start,
            end=tiny.last_boundary,
            planner=tiny.planner,
        )


async def test_an_unreachable_csms_fails_the_run_with_the_station_named(tiny: Any) -> None:
    with pytest.raises(StationError, match="at ws://127.0.0.1:9/ocpp/T"):
        await run_fleet(
            "ws://127.0.0.1:9/ocpp",
            tiny.fleet,
            speed=FAST,
            start=tiny.start,
            end=tiny.last_boundary,
            planner=tiny.planner,
        )


@pytest.mark.parametrize("station_id", ["T16", "T21"])
async def test_a_refused_token_ends_the_transaction_at_once(
    csms: Any, tiny: Any, station_id: str
) -> None:
    csms.refused_tokens.update({"TOKEN1", "TOKEN3"})  # T16/1 at 10:05, T21/1 at 10:00
    ledger = Ledger(tiny.fleet.site_of())
    await run_fleet(
        csms.url,
        tiny.fleet,
        speed=FAST,
        start=tiny.start,
        end=minutes(15),
        ledger=ledger,
        planner=tiny.planner,
        options=SimOptions(sample_interval=timedelta(minutes=15)),
    )
    refused = [s for s in ledger.sessions() if s.station_id == station_id and s.evse_id == 1]
    assert len(refused) == 1
    assert refused[0].reason == "DeAuthorized"
    assert refused[0].ended_at == refused[0].started_at
    assert refused[0].meter_stop_wh == refused[0].meter_start_wh


async def test_the_small_fleet_runs_for_half_an_hour_with_heartbeats(csms: Any) -> None:
    fleet = small_fleet(random.Random(11))
    ledger = Ledger(fleet.site_of())
    await run_fleet(
        csms.url,
        fleet,
        speed=FAST,
        start=T0,
        end=minutes(30),
        ledger=ledger,
        options=FIVE_MINUTES,
    )
    assert sorted(ledger.quarter_hour_energy()) == [
        ("SIM-SITE", minutes(0)),
        ("SIM-SITE", minutes(15)),
    ]
    assert ledger.sessions_started == ledger.sessions_ended > 0
    # A heartbeat at the first instant 10 simulated minutes after the previous one: with
    # samples every 5 minutes, at 10:10, 10:20 and 10:30.
    for station in ("SIM-CP16", "SIM-CP21"):
        assert len(csms.of(station, "Heartbeat")) == 3
        actions = [f.action for f in csms.frames if f.station_id == station]
        assert actions[:3] == ["BootNotification", "StatusNotification", "StatusNotification"]


async def test_every_station_of_the_default_fleet_speaks_its_version(csms: Any) -> None:
    # 1.6, 2.0.1 and 2.1 stations, all EVSE kinds, through the package's schema checks.
    fleet = default_fleet(random.Random(2))
    ledger = Ledger(fleet.site_of())
    await run_fleet(
        csms.url,
        fleet,
        speed=FAST,
        start=T0,
        end=minutes(30),
        ledger=ledger,
        options=SimOptions(sample_interval=timedelta(minutes=15)),
    )
    assert {f.station_id for f in csms.frames} == {s.station_id for s in fleet.stations}
    assert csms.of("GNT-OFFICE-AC1", "TransactionEvent")  # 2.0.1
    sites = {site for site, _ in ledger.quarter_hour_energy()}
    assert sites == {"BE-ANT-DEPOT", "BE-GNT-OFFICE", "BE-BRU-RETAIL"}
    assert ledger.sessions_started == ledger.sessions_ended > 0


def _sampled(payload: dict[str, Any]) -> list[tuple[datetime, dict[str, Any]]]:
    """(timestamp, sampled values by measurand) of each meterValue of a payload."""
    return [
        (parse_time(mv["timestamp"]), {sv.get("measurand"): sv for sv in mv["sampledValue"]})
        for mv in payload.get("meterValue", [])
    ]


async def test_the_default_fleet_s_quirks_reach_the_wire_where_the_fleet_says(csms: Any) -> None:
    # The first hour of the default fleet (the e2e pipeline test runs the same hour).
    fleet = default_fleet(random.Random(7))
    ledger = Ledger(fleet.site_of())
    await run_fleet(csms.url, fleet, speed=FAST, start=T0, end=minutes(60), ledger=ledger)

    # ANT-DEPOT-AC1 (1.6, kWh, every 7 min) EVSE 2 misreads "0.000" at 10:22, once.
    zero = [
        (p["connectorId"], ts)
        for p in csms.of("ANT-DEPOT-AC1", "MeterValues")
        for ts, values in _sampled(p)
        if values["Energy.Active.Import.Register"]["value"] == "0.000"
    ]
    assert zero == [(2, minutes(22))]
    # BRU-RETAIL-DC1 (2.1, every 45 s) EVSE 2 reads one digit as 0 at 10:12 (16 x 45 s).
    [digit] = [m for m in ledger.misreads() if m.station_id == "BRU-RETAIL-DC1"]
    assert (digit.evse_id, digit.ts) == (2, minutes(12))
    assert digit.sent_wh < digit.true_wh
    sent = [
        values["Energy.Active.Import.Register"]["value"]
        for e in csms.of("BRU-RETAIL-DC1", "TransactionEvent")
        for ts, values in _sampled(e)
        if ts == minutes(12) and "Energy.Active.Import.Register" in values
    ]
    assert digit.sent_wh in sent
    # BRU-RETAIL-AC1 (1.6, every 150 s) EVSE 1 reads a digit as 9 at 10:32:30, once.
    [jump] = [m for m in ledger.misreads() if m.station_id == "BRU-RETAIL-AC1"]
    assert (jump.evse_id, jump.ts, jump.sent_wh) == (
        1,
        minutes(32.5),
        misread_wh(int(jump.true_wh), "jump"),
    )
    assert jump.sent_wh > jump.true_wh
    # The ledger holds the true register at the misread, and counts it.
    [true] = [r for r in ledger.readings("ANT-DEPOT-AC1", 2) if r.ts == minutes(22)]
    assert true.import_wh > 100_000

    # ANT-DEPOT-DC1 (1.6, every 37 s) EVSE 1 gets a new meter (1,000 Wh) at 10:25:10.
    registers = ledger.readings("ANT-DEPOT-DC1", 1)
    old = [r for r in registers if r.meter_no == 0]
    new = [r for r in registers if r.meter_no == 1]
    assert old[-1].ts < minutes(25 + 1 / 6) <= new[0].ts
    assert 1_000 < new[0].import_wh < 2_000 and new[-1].import_wh < old[-1].import_wh

    # BRU-RETAIL-DC1 is offline 10:20-10:40: exactly its events of then say so.
    events = csms.of("BRU-RETAIL-DC1", "TransactionEvent")
    offline = {parse_time(e["timestamp"]) for e in events if e.get("offline")}
    assert offline and all(minutes(20) <= ts < minutes(40) for ts in offline)
    assert not any(
        minutes(20) <= parse_time(e["timestamp"]) < minutes(40) and not e.get("offline")
        for e in events
    )
    # ... and EVSE 1's session at 10:42 reuses the id of the one that ended at 10:18.
    started = [e for e in events if e["eventType"] == "Started" and e["evse"]["id"] == 1]
    assert [parse_time(e["timestamp"]) for e in started][:2] == [minutes(3), minutes(42)]
    assert (
        started[0]["transactionInfo"]["transactionId"]
        == (started[1]["transactionInfo"]["transactionId"])
    )
    assert started[1]["seqNo"] == 0

    # BRU-RETAIL-AC2 (2.0.1) reports power every 10 s and never an energy register.
    frames = csms.of("BRU-RETAIL-AC2", "TransactionEvent") + csms.of(
        "BRU-RETAIL-AC2", "MeterValues"
    )
    measurands = {m for f in frames for _, values in _sampled(f) for m in values}
    assert "Power.Active.Import" in measurands
    assert not any(m.startswith("Energy") for m in measurands)
    assert len(ledger.powers("BRU-RETAIL-AC2", 1)) >= 6 * 60

    # BE-GNT-OFFICE: the V2X EVSE discharges while an AC EVSE charges, netted per minute.
    load = ledger.quarter_hour_energy()
    gross = ledger.meter_quarter_hour_energy()
    gnt = {s: v for (site, s), v in load.items() if site == "BE-GNT-OFFICE"}
    assert gnt[minutes(15)][0] > 0 and gnt[minutes(15)][1] > 0  # imports, then exports
    assert gnt[minutes(30)][1] > 0
    gross_import = sum(
        imp
        for (station_id, _, s), (imp, _) in gross.items()
        if s == minutes(0) and station_id.startswith("GNT")
    )
    assert gnt[minutes(0)][0] < gross_import  # the discharge from 10:08 is netted away
    assert {site for site, _ in load} == {"BE-ANT-DEPOT", "BE-GNT-OFFICE", "BE-BRU-RETAIL"}

    # GNT-OFFICE-AC1 EVSE 1 reports an EMS limit of 7 kW for an hour from its start at
    # 10:05, and goes on charging at 11 kW over it.
    [notified] = csms.of("GNT-OFFICE-AC1", "NotifyChargingLimit")
    [schedule] = notified["chargingSchedule"]
    assert (notified["evseId"], notified["chargingLimit"]["chargingLimitSource"]) == (1, "EMS")
    assert (parse_time(schedule["startSchedule"]), schedule["duration"]) == (minutes(5), 3600)
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7000.0}]
    assert gross[("GNT-OFFICE-AC1", 1, minutes(15))][0] / 0.25 > 7_000 * 1.05


async def test_an_offline_station_sends_its_queue_late_when_the_window_ends(csms: Any) -> None:
    # A 1.6 station sampling every 5 min, offline from 10:20 to 10:40, charging all along;
    # at 3,600x a simulated minute is 1/60 real second. Its samples of 10:20 to 10:35 go
    # out (in order) once simulated 10:40 has come; the others as their time comes.
    ev = Visit(timedelta(minutes=2), timedelta(hours=1), ev_max_power_w=11_040.0)
    station = StationSpec(
        "OFF16",
        "SITE",
        "1.6",
        (EvseSpec(1, "ac_11kw", seed=1, visits=(ev,)),),
        sampling=Sampling(period=timedelta(minutes=5)),
        offline=(Offline(timedelta(minutes=20), timedelta(minutes=20)),),
    )
    ledger = Ledger({})
    real_start = time.monotonic()
    await run_fleet(
        csms.url,
        Fleet((SiteSpec("SITE", (station,)),)),
        speed=3600.0,
        start=T0,
        end=minutes(60),
        ledger=ledger,
    )

    def simulated(received_s: float) -> datetime:
        # At the latest: the run's clock started after real_start.
        return T0 + timedelta(seconds=(received_s - real_start) * 3600.0)

    sent = [
        (parse_time(f.payload["meterValue"][0]["timestamp"]), simulated(f.received_s))
        for f in csms.frames
        if f.action == "MeterValues"
    ]
    queued = [(ts, at) for ts, at in sent if minutes(20) <= ts < minutes(40)]
    assert [ts for ts, _ in queued] == [minutes(m) for m in (20, 25, 30, 35)]
    assert all(at >= minutes(40) for _, at in queued)  # never before the window ends
    before = [at for ts, at in sent if ts < minutes(20)]
    assert before and all(at < minutes(40) for at in before)
    # Late is all it is: the ledger has every sample in order, the energy is unchanged.
    assert ledger.quarter_hour_energy()[("OFF16", minutes(15))] == (2760.0, 0.0)


async def test_the_ledger_knows_every_quarter_hour_of_make_run_s_fleet(csms: Any) -> None:
    # Two hours of seed 1, as `make run` simulates: with its drawn sessions too, every
    # meter is read on every boundary, and every meter that moves on the netted site on
    # every minute, so the ledger raises no LedgerError.
    fleet = default_fleet(random.Random(1))
    ledger = Ledger(fleet.site_of())
    await run_fleet(csms.url, fleet, speed=FAST, start=T0, end=minutes(120), ledger=ledger)
    load = ledger.quarter_hour_energy()
    assert len(load) == 3 * 8
    assert sum(imp for imp, _ in load.values()) > 0
