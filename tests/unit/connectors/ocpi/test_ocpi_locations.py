"""OCPI Locations -> OcpiEvse records (pure; hand-worked values)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.ocpi.locations import patch_location, put_location
from connectors.ocpi.sessions import Context
from connectors.ocpi.wire import Accepted, PartyRef, Rejected
from gridstream.records import OcpiEvse

BEC = PartyRef("BE", "BEC")
CTX = Context(
    received_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC), source="ocpi2.2.1", site_of=lambda s: s
)


def location(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "country_code": "BE", "party_id": "BEC", "id": "LOC1", "publish": True,
        "address": "F. Rooseveltlaan 3A", "city": "Gent", "country": "BEL",
        "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
        "time_zone": "Europe/Brussels",
        "evses": [
            {"uid": "3256", "evse_id": "BE*BEC*E041503001", "status": "AVAILABLE",
             "connectors": [
                 {"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                  "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 32,
                  "last_updated": "2026-01-01T00:00:00Z"},
                 {"id": "2", "standard": "IEC_62196_T2_COMBO", "format": "CABLE",
                  "power_type": "DC", "max_voltage": 500, "max_amperage": 100,
                  "max_electric_power": 50000, "last_updated": "2026-01-01T00:00:00Z"}],
             "last_updated": "2026-01-01T00:00:00Z"},
            {"uid": "3257", "status": "CHARGING",
             "coordinates": {"latitude": "51.0477", "longitude": "3.7300"},
             "connectors": [
                 {"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                  "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 16,
                  "last_updated": "2026-01-01T00:00:00Z"}],
             "last_updated": "2026-01-01T00:00:00Z"},
        ],
        "last_updated": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    body.update(changes)
    return body


def evses(result: Accepted | Rejected) -> dict[str, tuple[Any, ...]]:
    assert isinstance(result, Accepted), result
    return {
        r.evse_uid: (r.station_id, r.status, r.max_power_w, r.latitude, r.longitude)
        for r in result.records
        if isinstance(r, OcpiEvse)
    }


def test_a_location_gives_one_record_per_evse_with_its_max_power() -> None:
    _, result = put_location(None, BEC, "LOC1", None, location(), CTX)
    # 3256: AC 3-phase 230 V x 32 A x 3 = 22,080 W, DC 50,000 W given: the larger.
    # 3257: AC 1-phase 230 V x 16 A = 3,680 W; its own coordinates.
    assert evses(result) == {
        "3256": ("BE*BEC*3256", "AVAILABLE", 50000.0, 51.047599, 3.729944),
        "3257": ("BE*BEC*3257", "CHARGING", 3680.0, 51.0477, 3.73),
    }


def test_an_evse_patch_publishes_only_that_evse_and_an_older_one_nothing() -> None:
    state, _ = put_location(None, BEC, "LOC1", None, location(), CTX)
    patch = {"status": "CHARGING", "last_updated": "2026-01-02T00:00:00Z"}
    state, result = patch_location(state, BEC, "LOC1", "3256", patch, CTX)
    assert evses(result) == {"3256": ("BE*BEC*3256", "CHARGING", 50000.0, 51.047599, 3.729944)}
    older = {"status": "OUTOFORDER", "last_updated": "2026-01-01T12:00:00Z"}
    _, stale = patch_location(state, BEC, "LOC1", "3256", older, CTX)
    assert evses(stale) == {}


def test_unknown_locations_and_mismatched_ids_are_refused() -> None:
    state, _ = put_location(None, BEC, "LOC1", None, location(), CTX)
    later = {"status": "CHARGING", "last_updated": "2026-01-02T00:00:00Z"}
    cases = [
        # (why, result, reason)
        ("PATCH of a location never PUT", patch_location(None, BEC, "LOC9", None, later, CTX),
         "unknown_location"),
        ("PATCH of an EVSE the location lacks",
         patch_location(state, BEC, "LOC1", "9999", later, CTX), "unknown_location"),
        ("object id differs from the URL", put_location(None, BEC, "LOC2", None, location(), CTX),
         "id_mismatch"),
        ("coordinates not a number",
         put_location(None, BEC, "LOC1", None,
                      location(coordinates={"latitude": "north", "longitude": "3.7"}), CTX),
         "schema_violation"),
    ]  # fmt: skip
    for why, (_, result), expected in cases:
        assert isinstance(result, Rejected), why
        assert result.reason_code == expected, why
