"""TOMP-API bookings of shared cars to charging needs: when a car leaves, how much it needs.

A transport operator (TO) serves its bookings over the TOMP-API (1.x, ``GET /bookings``):
each ``booking`` has a ``state`` and ``legs`` (or, with no legs, one leg made of the
booking's own ``id``, ``departureTime``, ``arrivalTime``; TOMP 1.6 ``booking.legs``), and a
leg names the ``asset`` (the car), its ``departureTime`` and its estimated ``distance``
(m). The fleet file says which of the TO's cars charge where (station and EVSE).

For each car of the fleet, the earliest leg that departs after now, of a booking that
still stands (``CONFIRMED``, ``CONDITIONAL_CONFIRMED``; a ``PENDING`` one may still be
refused), becomes one ``EVChargingNeeds``: ``departure_time`` the leg's departure and
``target_energy_wh`` the trip's energy, distance x the car's consumption (Wh/km) x (1 +
reserve). The TO does not say how full the battery is, so the trip's energy is taken as
the energy still to charge: flexibility is then understated, never promised beyond what
the car may need (GRID.md, section 6). A leg without a distance gives a departure and no
energy (the flexibility computation then offers no reduction for it).

A booking that cannot be read (no departure, a time without offset) is rejected with the
reason, the others are kept. Cars not in the fleet, and legs with no car assigned yet, are
not ours to plan: skipped. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import yaml

from connectors.grid.result import Rejected
from gridstream.errors import ConfigError
from gridstream.records import EVChargingNeeds

#: Bookings whose cars will leave: the TO accepted them.
STANDING: Final = frozenset({"CONFIRMED", "CONDITIONAL_CONFIRMED"})


@dataclass(frozen=True)
class FleetCar:
    """A shared car of the TO and where it charges: station, EVSE, consumption."""

    asset_id: str
    station_id: str
    evse_id: int
    wh_per_km: float | None = None
    #: The transfer it asks for (OCPP names); ``*_BPT`` for a car that can give back.
    energy_transfer: str = "AC_three_phase_core"


def load_fleet(path: Path) -> dict[str, FleetCar]:
    """The fleet file: a YAML list of ``{asset_id, station_id, evse_id[, wh_per_km, ...]}``."""
    try:
        entries = yaml.safe_load(path.read_text()) or []
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"GRIDSTREAM_TOMP_FLEET_FILE {path}: {exc}") from None
    fleet: dict[str, FleetCar] = {}
    for number, entry in enumerate(entries if isinstance(entries, list) else [entries], 1):
        try:
            car = FleetCar(
                asset_id=str(entry["asset_id"]),
                station_id=str(entry["station_id"]),
                evse_id=int(entry["evse_id"]),
                wh_per_km=float(entry["wh_per_km"]) if "wh_per_km" in entry else None,
                energy_transfer=str(entry.get("energy_transfer", "AC_three_phase_core")),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"GRIDSTREAM_TOMP_FLEET_FILE {path}, entry {number}: {exc!s} (each entry needs "
                "asset_id, station_id and evse_id)"
            ) from None
        fleet[car.asset_id] = car
    return fleet


@dataclass(frozen=True)
class Trip:
    """One leg of a standing booking with a car of the fleet."""

    booking_id: str
    car: FleetCar
    departure: datetime
    distance_m: float | None


def trips(booking: Mapping[str, Any], fleet: Mapping[str, FleetCar]) -> list[Trip]:
    """The legs of ``booking`` that take a car of ``fleet``; ``ValueError`` if unreadable."""
    if booking.get("state") not in STANDING:
        return []
    booking_id = str(booking.get("id", ""))
    legs = booking.get("legs") or [
        {"id": booking_id, "departureTime": booking.get("departureTime"),
         "asset": booking.get("asset")}
    ]  # fmt: skip
    found: list[Trip] = []
    for leg in legs:
        asset = (leg.get("asset") or {}).get("id")
        car = fleet.get(str(asset)) if asset is not None else None
        if car is None:
            continue
        text = leg.get("departureTime")
        if not isinstance(text, str):
            raise ValueError(f"leg {leg.get('id')!r} of car {asset!r} has no departureTime")
        departure = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if departure.tzinfo is None:
            raise ValueError(f"departureTime {text!r} has no offset")
        distance = leg.get("distance")
        if distance is not None and (not isinstance(distance, int | float) or distance < 0):
            raise ValueError(f"distance {distance!r} is not a number of metres")
        found.append(Trip(booking_id, car, departure, None if distance is None else distance))
    return found


def fleet_needs(
    bookings: Iterable[Mapping[str, Any]],
    fleet: Mapping[str, FleetCar],
    *,
    site_of: Callable[[str], str],
    wh_per_km: float,
    reserve: float,
    received_at: datetime,
) -> tuple[list[EVChargingNeeds], list[Rejected]]:
    """Each fleet car's needs for its next departure after ``received_at`` (module docstring)."""
    next_trip: dict[str, Trip] = {}
    rejected: list[Rejected] = []
    for booking in bookings:
        try:
            found = trips(booking, fleet)
        except (ValueError, TypeError, AttributeError) as exc:
            rejected.append(Rejected(
                "malformed_document", f"TOMP booking {booking.get('id')!r}: {exc}", str(booking)
            ))  # fmt: skip
            continue
        for trip in found:
            held = next_trip.get(trip.car.asset_id)
            if trip.departure > received_at and (held is None or trip.departure < held.departure):
                next_trip[trip.car.asset_id] = trip
    needs = [_needs(trip, site_of, wh_per_km, reserve, received_at) for trip in next_trip.values()]
    return needs, rejected


def _needs(
    trip: Trip,
    site_of: Callable[[str], str],
    wh_per_km: float,
    reserve: float,
    received_at: datetime,
) -> EVChargingNeeds:
    energy = None
    if trip.distance_m is not None:
        energy = trip.distance_m / 1000 * (trip.car.wh_per_km or wh_per_km) * (1 + reserve)
    return EVChargingNeeds(
        ts=received_at,
        station_id=trip.car.station_id,
        site_id=site_of(trip.car.station_id),
        evse_id=trip.car.evse_id,
        source="tomp",
        received_at=received_at,
        requested_energy_transfer=trip.car.energy_transfer,
        departure_time=trip.departure,
        target_energy_wh=energy,
        message_id=f"tomp:{trip.booking_id}",
    )
