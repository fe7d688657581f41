"""End to end: a CPO pushes a session's ActiveChargingProfiles over real HTTP to `gridstream
run` (the ChargingProfiles module, gridstream as the SCSP/eMSP), then the session's meter
data; the profiles reach the workers as charging limits through the embedded broker, and
profile_compliance (and its per-session view) in the warehouse holds the session's
quarter-hours against them, with the profile id an OCPI 3.0 meter sample says it followed.

Worked by hand (EVSE BE*BEC*E1, no Location pushed, so 3 phases; session S1):

- 10:00 ActiveChargingProfile (2.2.1): 16 A per phase, open-ended = 16 x 230 x 3 = 11,040 W;
- 10:07 ActiveChargingProfile (3.0 draft, id cp-1): 7,000 W; it replaces the first from
  10:07, so 10:00-10:07 stays 11,040 W;
- registers 0 Wh at 10:00, 3,000 at 10:15, 4,750 at 10:30 (session end): 12,000 W and
  7,000 W average over the two quarter-hours;
- 10:00-10:15: planned (11,040 x 420 s + 7,000 x 480 s) / 900 s = 8,885.333 W, metered
  12,000: 3,114.667 W above, more than max(5 % x 8,885.333 = 444.27, 100): not compliant;
- 10:15-10:30: planned 7,000, metered 7,000: compliant; a 3.0 meter sample at 10:20 names
  profile cp-2 while gridstream holds cp-1: a mismatch.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from tests.e2e.test_ocpi_pipeline import period, registered_partner
from tests.unit.connectors.ocpi.test_ocpi_charging_profiles import ACTIVE_SESSION, active
from warehouse.query import run_query

pytestmark = pytest.mark.e2e


async def limits_stored(data_dir: Path, rows: int, timeout_s: float = 30.0) -> None:
    """Wait until ``rows`` charging limits of the session are in the warehouse."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    query = "SELECT count(*) FROM charging_limits WHERE transaction_id = 'S1'"
    while True:
        with contextlib.suppress(Exception):  # no file written yet
            if run_query(data_dir, query)[1][0][0] >= rows:
                return
        assert loop.time() < deadline, "the charging limits never reached the warehouse"
        await asyncio.sleep(0.2)


async def test_a_cpos_active_profiles_are_held_against_the_sessions_meter(tmp_path: Path) -> None:
    async with registered_partner(tmp_path) as partner:
        settings, client, auth, base = (
            partner.settings, partner.client, partner.auth, partner.base,
        )  # fmt: skip
        details = (await client.get("/ocpi/2.2.1", headers=auth)).json()["data"]
        [endpoint] = [e for e in details["endpoints"] if e["identifier"] == "chargingprofiles"]
        profiles = endpoint["url"].removeprefix(base)  # /ocpi/2.2.1/chargingprofiles

        url = "/ocpi/2.2.1/sessions/BE/BEC/S1"
        assert (await client.put(url, json=ACTIVE_SESSION, headers=auth)).json()[
            "status_code"
        ] == 1000
        first = active("2026-01-15T10:00:00Z", "A", ((0, 16.0),))
        answer = await client.put(f"{profiles}/S1", json=first, headers=auth)
        assert answer.json() == {"status_code": 1000, "timestamp": answer.json()["timestamp"]}
        second = active("2026-01-15T10:07:00Z", "W", ((0, 7000.0),), id="cp-1")
        answer = await client.put("/ocpi/3.0/chargingprofiles/S1", json=second, headers=auth)
        assert answer.json()["status_code"] == 1000, answer.text
        # A profile for a session gridstream does not hold: OCPI's error, and a dead letter.
        answer = await client.put(f"{profiles}/S9", json=first, headers=auth)
        assert (answer.status_code, answer.json()["status_code"]) == (404, 2001)
        # The station says it follows cp-2 at 10:20 (a state-of-charge sample).
        sample = {"timestamp": "2026-01-15T10:20:00Z", "session_id": "S1",
                  "charging_profile_id": "cp-2",
                  "readings": [{"value": 55, "measurand": "SOC", "unit": "PERCENT",
                                "component_level": "EV", "location": "INLET"}]}  # fmt: skip
        answer = await client.post("/ocpi/3.0/metersamples/BE/BEC", json=sample, headers=auth)
        assert answer.json()["status_code"] == 1000, answer.text
        # The workers follow charging.limits beside the samples: let them have the
        # profiles (1 period, then 2: the first cut at 10:07, and cp-1) before the meter.
        await limits_stored(settings.data_dir, 3)
        await asyncio.sleep(0.5)
        patches = [
            {"kwh": 3.0, "charging_periods": [period("2026-01-15T10:00:00Z", "ENERGY", 3.0)],
             "last_updated": "2026-01-15T10:15:00Z"},
            {"kwh": 4.75, "status": "COMPLETED", "end_date_time": "2026-01-15T10:30:00Z",
             "charging_periods": [period("2026-01-15T10:15:00Z", "ENERGY", 1.75)],
             "last_updated": "2026-01-15T10:30:00Z"},
        ]  # fmt: skip
        for patch in patches:
            answer = await client.patch(url, json=patch, headers=auth)
            assert answer.json()["status_code"] == 1000, answer.text
    assert partner.result is not None
    assert partner.result.ocpi_rejected == 1

    _, rows = run_query(
        settings.data_dir,
        "SELECT strftime(interval_start, '%H:%M'), evse_id, transaction_id, covered_s, "
        "planned_w, metered_w, deviation_w, compliant, limit_source, reported_profile_ids, "
        "profile_id_mismatch FROM profile_compliance WHERE station_id = 'BE*BEC*E1' "
        "ORDER BY interval_start",
    )
    assert rows == [
        ("10:00", None, "S1", 900.0, 8885.333, 12000.0, pytest.approx(3114.667), False,
         "OCPI:BE*BEC:TxProfile", [], None),
        ("10:15", None, "S1", 900.0, 7000.0, 7000.0, 0.0, True,
         "OCPI:BE*BEC:TxProfile", ["cp-2"], True),
    ]  # fmt: skip
    _, rows = run_query(
        settings.data_dir,
        "SELECT transaction_id, quarter_hours, judged, not_compliant, profile_id_mismatches "
        "FROM profile_compliance_sessions WHERE station_id = 'BE*BEC*E1'",
    )
    assert rows == [("S1", 2, 2, 1, 1)]
    _, rows = run_query(
        settings.data_dir,
        "SELECT charging_profile_id FROM meter_readings WHERE measurand = 'SoC'",
    )
    assert rows == [("cp-2",)]
    _, rows = run_query(settings.data_dir, "SELECT reason, station_id FROM dead_letters")
    assert rows == [("unknown_session", "BE*BEC")]
