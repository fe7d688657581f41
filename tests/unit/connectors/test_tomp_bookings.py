"""TOMP bookings of shared cars become each car's charging needs for its next departure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from connectors.tomp.bookings import FleetCar, fleet_needs

FIXTURES = Path(__file__).parents[2] / "fixtures" / "tomp"
BOOKINGS = json.loads((FIXTURES / "bookings_shared_cars.constructed.json").read_text())
FLEET = {
    "car-17": FleetCar("car-17", "GNT-HUB-AC1", 1),
    "van-3": FleetCar("van-3", "GNT-HUB-AC2", 2, wh_per_km=250.0, energy_transfer="AC_BPT"),
}
NOW = datetime(2026, 12, 4, 5, 0, tzinfo=UTC)  # 06:00 in Gent


def needs(bookings: list[dict[str, Any]], now: datetime = NOW) -> Any:
    return fleet_needs(bookings, FLEET, site_of=lambda station: f"site-of-{station}",
                       wh_per_km=180.0, reserve=0.2, received_at=now)  # fmt: skip


def test_the_constructed_bookings_are_valid_tomp_1_6_1_bookings() -> None:
    spec = yaml.safe_load((FIXTURES / "TOMP-API-1.6.1.yaml").read_text())
    schema = {"$ref": "#/components/schemas/booking", "components": spec["components"]}
    for booking in BOOKINGS:
        jsonschema.validate(booking, schema)


def test_each_fleet_car_needs_the_energy_of_its_next_trip_by_its_departure() -> None:
    found, rejected = needs(BOOKINGS)
    assert rejected == []
    by_car = {n.station_id: n for n in found}
    assert set(by_car) == {"GNT-HUB-AC1", "GNT-HUB-AC2"}  # the other operator's car: not ours
    car = by_car["GNT-HUB-AC1"]
    # the 07:30 trip (112 km) comes before the 13:00 one: 112 km x 180 Wh/km x 1.2 = 24,192 Wh
    assert car.departure_time == datetime(2026, 12, 4, 6, 30, tzinfo=UTC)
    assert car.target_energy_wh == pytest.approx(24_192.0)
    assert (car.site_id, car.evse_id, car.source, car.message_id) == (
        "site-of-GNT-HUB-AC1",
        1,
        "tomp",
        "tomp:bk-1001",
    )
    van = by_car["GNT-HUB-AC2"]
    # no distance: a departure, no energy (no reduction will be offered for it)
    assert (van.departure_time, van.target_energy_wh, van.requested_energy_transfer) == (
        datetime(2026, 12, 4, 8, 15, tzinfo=UTC),
        None,
        "AC_BPT",
    )


def test_once_a_car_has_left_its_next_booking_is_the_one_that_counts() -> None:
    found, _ = needs(BOOKINGS, now=datetime(2026, 12, 4, 8, 0, tzinfo=UTC))
    car = next(n for n in found if n.station_id == "GNT-HUB-AC1")
    # 30 km x 180 Wh/km x 1.2 = 6,480 Wh by 13:00 local (12:00Z)
    assert (car.departure_time, car.target_energy_wh) == (
        datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
        pytest.approx(6_480.0),
    )


def test_a_cancelled_booking_plans_nothing_and_an_unreadable_one_is_rejected_alone() -> None:
    cancelled = BOOKINGS[0] | {"state": "CANCELLED"}
    broken = {
        "id": "bk-9",
        "state": "CONFIRMED",
        "legs": [{"id": "x", "asset": {"id": "van-3"}, "departureTime": "2026-12-04T09:00"}],
    }
    found, rejected = needs([cancelled, broken, BOOKINGS[1]])
    assert [(n.station_id, n.message_id) for n in found] == [("GNT-HUB-AC1", "tomp:bk-1002")]
    [rejection] = rejected
    assert rejection.reason == "malformed_document"
    assert rejection.detail == "TOMP booking 'bk-9': departureTime '2026-12-04T09:00' has no offset"
