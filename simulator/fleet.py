"""What the simulated fleet is made of: sites, their stations, and each station's EVSEs.

Pure data: no clock, no I/O, no global randomness. ``default_fleet`` and ``small_fleet``
take a ``random.Random`` and draw from it only per-EVSE seeds and starting register values,
so the same seed gives the same fleet (and, through ``sessions.plan_sessions``, the same
sessions).

The fleet also produces the registry entries (``SiteAssignment``) that tell the pipeline
which stations share a grid connection.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final, Literal

from gridstream.records import SiteAssignment

OcppVersion = Literal["1.6", "2.0.1", "2.1"]
"""OCPP version a station speaks (its websocket subprotocol is ``"ocpp" + version``)."""

EvseKind = Literal["ac_7kw", "ac_11kw", "dc_50kw", "dc_v2x_11kw"]
"""Kind of supply equipment. ``dc_v2x_11kw`` is bidirectional (OCPP 2.1 only)."""

EnergyUnit = Literal["Wh", "kWh"]


@dataclass(frozen=True)
class KindSpec:
    """Electrical limits of an EVSE kind.

    ``phases`` is the number of AC phases the meter reports currents for; DC chargers are
    metered on their three-phase AC input.
    """

    max_power_w: float
    max_discharge_w: float
    phases: int
    dc: bool


KINDS: Final[dict[EvseKind, KindSpec]] = {
    # 32 A x 230 V on one phase.
    "ac_7kw": KindSpec(max_power_w=7360.0, max_discharge_w=0.0, phases=1, dc=False),
    # 16 A x 230 V x 3 phases.
    "ac_11kw": KindSpec(max_power_w=11040.0, max_discharge_w=0.0, phases=3, dc=False),
    "dc_50kw": KindSpec(max_power_w=50000.0, max_discharge_w=0.0, phases=3, dc=True),
    "dc_v2x_11kw": KindSpec(max_power_w=11000.0, max_discharge_w=11000.0, phases=3, dc=True),
}


@dataclass(frozen=True)
class EvseSpec:
    """One EVSE (with one connector) of a station.

    ``seed`` drives its sessions (``sessions.plan_sessions``); ``initial_import_wh`` and
    ``initial_export_wh`` are the registers when the simulation starts.
    """

    evse_id: int
    kind: EvseKind
    seed: int
    connector_id: int = 1
    initial_import_wh: int = 0
    initial_export_wh: int = 0

    @property
    def spec(self) -> KindSpec:
        """Electrical limits of this EVSE's kind."""
        return KINDS[self.kind]

    @property
    def bidirectional(self) -> bool:
        """Whether the EVSE can discharge (V2X)."""
        return self.spec.max_discharge_w > 0


@dataclass(frozen=True)
class StationSpec:
    """A charging station: identity, OCPP version, how it reports energy, its EVSEs."""

    station_id: str
    site_id: str
    version: OcppVersion
    evses: tuple[EvseSpec, ...]
    vendor: str = "gridstream-sim"
    model: str = "SIM-1"
    serial_number: str | None = None
    firmware_version: str = "1.0.0"
    #: Unit of the energy registers a 1.6 station sends (some stations report kWh).
    energy_unit: EnergyUnit = "Wh"

    def __post_init__(self) -> None:
        """Refuse identities OCPP-J does not allow and V2X outside OCPP 2.1."""
        if not self.station_id or len(self.station_id) > 48 or ":" in self.station_id:
            raise ValueError(
                f"station id {self.station_id!r}: must be 1-48 characters without ':' "
                "(OCPP-J 2.1 part 4 section 3.1)"
            )
        ids = [e.evse_id for e in self.evses]
        if not ids or sorted(ids) != list(range(1, len(ids) + 1)):
            raise ValueError(f"station {self.station_id}: EVSE ids must be 1..n, got {ids}")
        if self.version != "2.1" and any(e.bidirectional for e in self.evses):
            raise ValueError(
                f"station {self.station_id}: V2X EVSEs need OCPP 2.1, station speaks {self.version}"
            )

    @property
    def subprotocol(self) -> str:
        """The websocket subprotocol of the station's OCPP version."""
        return f"ocpp{self.version}"


@dataclass(frozen=True)
class SiteSpec:
    """A grid connection with one or more stations behind it."""

    site_id: str
    stations: tuple[StationSpec, ...]
    timezone: str = "Europe/Brussels"
    ean: str | None = None
    congestion_area: str | None = None
    brp: str | None = None
    contracted_capacity_w: float | None = None

    def __post_init__(self) -> None:
        """Refuse stations that name another site."""
        for station in self.stations:
            if station.site_id != self.site_id:
                raise ValueError(
                    f"station {station.station_id} names site {station.site_id!r} "
                    f"but is listed under {self.site_id!r}"
                )


@dataclass(frozen=True)
class Fleet:
    """All simulated sites."""

    sites: tuple[SiteSpec, ...]
    _by_station: dict[str, StationSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Index stations and refuse a station id used twice."""
        by_station: dict[str, StationSpec] = {}
        for site in self.sites:
            for station in site.stations:
                if station.station_id in by_station:
                    raise ValueError(f"station id {station.station_id!r} used twice")
                by_station[station.station_id] = station
        object.__setattr__(self, "_by_station", by_station)

    @property
    def stations(self) -> tuple[StationSpec, ...]:
        """Every station, site by site."""
        return tuple(self._by_station.values())

    def station(self, station_id: str) -> StationSpec:
        """The station with this id (``KeyError`` names the known ones)."""
        try:
            return self._by_station[station_id]
        except KeyError:
            raise KeyError(
                f"unknown station {station_id!r}; known: {', '.join(self._by_station)}"
            ) from None

    def site_of(self) -> dict[str, str]:
        """Station id -> site id."""
        return {s.station_id: s.site_id for s in self._by_station.values()}

    def site_assignments(self) -> list[SiteAssignment]:
        """Registry entries for every station (publish them on ``registry.sites``)."""
        return [
            SiteAssignment(
                station_id=station.station_id,
                site_id=site.site_id,
                ean=site.ean,
                congestion_area=site.congestion_area,
                brp=site.brp,
                contracted_capacity_w=site.contracted_capacity_w,
                timezone=site.timezone,
                vendor=station.vendor,
                model=station.model,
                serial_number=station.serial_number,
            )
            for site in self.sites
            for station in site.stations
        ]


def _evses(rng: random.Random, *kinds: EvseKind) -> tuple[EvseSpec, ...]:
    """EVSEs 1..n of the given kinds, with seeds and used-meter registers from ``rng``."""
    out: list[EvseSpec] = []
    for evse_id, kind in enumerate(kinds, start=1):
        seed = rng.getrandbits(63)
        initial_import_wh = rng.randrange(100_000, 5_000_000)
        initial_export_wh = rng.randrange(0, 200_000) if KINDS[kind].max_discharge_w else 0
        out.append(
            EvseSpec(
                evse_id=evse_id,
                kind=kind,
                seed=seed,
                initial_import_wh=initial_import_wh,
                initial_export_wh=initial_export_wh,
            )
        )
    return tuple(out)


def default_fleet(rng: random.Random) -> Fleet:
    """Three Belgian sites, six stations (three 1.6, one 2.0.1, two 2.1), 15 EVSEs.

    ===============  ==========================  =====  ==================================
    site             station                     OCPP   EVSEs
    ===============  ==========================  =====  ==================================
    BE-ANT-DEPOT     ANT-DEPOT-AC1 (kWh)         1.6    4 x AC 11 kW
    BE-ANT-DEPOT     ANT-DEPOT-DC1               1.6    2 x DC 50 kW
    BE-GNT-OFFICE    GNT-OFFICE-AC1              2.0.1  3 x AC 11 kW
    BE-GNT-OFFICE    GNT-OFFICE-V2X1             2.1    V2X DC 11 kW, AC 7.4 kW
    BE-BRU-RETAIL    BRU-RETAIL-AC1              1.6    2 x AC 7.4 kW
    BE-BRU-RETAIL    BRU-RETAIL-DC1              2.1    2 x DC 50 kW
    ===============  ==========================  =====  ==================================

    The layout is fixed; ``rng`` draws each EVSE's session seed and starting registers.
    """
    ant = "BE-ANT-DEPOT"
    gnt = "BE-GNT-OFFICE"
    bru = "BE-BRU-RETAIL"
    return Fleet(
        sites=(
            SiteSpec(
                site_id=ant,
                ean="541448800000000017",
                congestion_area="BE-ANT-NORTH",
                brp="BRP-SIM",
                contracted_capacity_w=120_000.0,
                stations=(
                    StationSpec(
                        "ANT-DEPOT-AC1",
                        ant,
                        "1.6",
                        _evses(rng, "ac_11kw", "ac_11kw", "ac_11kw", "ac_11kw"),
                        model="SIM-AC4",
                        serial_number="SIM-0001",
                        energy_unit="kWh",
                    ),
                    StationSpec(
                        "ANT-DEPOT-DC1",
                        ant,
                        "1.6",
                        _evses(rng, "dc_50kw", "dc_50kw"),
                        model="SIM-DC50",
                        serial_number="SIM-0002",
                    ),
                ),
            ),
            SiteSpec(
                site_id=gnt,
                ean="541448800000000024",
                congestion_area="BE-GNT-CENTRE",
                brp="BRP-SIM",
                contracted_capacity_w=60_000.0,
                stations=(
                    StationSpec(
                        "GNT-OFFICE-AC1",
                        gnt,
                        "2.0.1",
                        _evses(rng, "ac_11kw", "ac_11kw", "ac_11kw"),
                        model="SIM-AC3",
                        serial_number="SIM-0003",
                    ),
                    StationSpec(
                        "GNT-OFFICE-V2X1",
                        gnt,
                        "2.1",
                        _evses(rng, "dc_v2x_11kw", "ac_7kw"),
                        model="SIM-V2X",
                        serial_number="SIM-0004",
                    ),
                ),
            ),
            SiteSpec(
                site_id=bru,
                ean="541448800000000031",
                congestion_area="BE-BRU-SOUTH",
                brp="BRP-SIM",
                contracted_capacity_w=150_000.0,
                stations=(
                    StationSpec(
                        "BRU-RETAIL-AC1",
                        bru,
                        "1.6",
                        _evses(rng, "ac_7kw", "ac_7kw"),
                        model="SIM-AC2",
                        serial_number="SIM-0005",
                    ),
                    StationSpec(
                        "BRU-RETAIL-DC1",
                        bru,
                        "2.1",
                        _evses(rng, "dc_50kw", "dc_50kw"),
                        model="SIM-DC50",
                        serial_number="SIM-0006",
                    ),
                ),
            ),
        )
    )


def small_fleet(rng: random.Random) -> Fleet:
    """One site (``SIM-SITE``) with a 1.6 station and a 2.1 station, two EVSEs each.

    ``SIM-CP16`` (1.6, reports kWh): AC 11 kW, AC 7.4 kW. ``SIM-CP21`` (2.1): V2X DC
    11 kW, AC 11 kW. Meant for fast tests.
    """
    site = "SIM-SITE"
    return Fleet(
        sites=(
            SiteSpec(
                site_id=site,
                contracted_capacity_w=40_000.0,
                stations=(
                    StationSpec(
                        "SIM-CP16",
                        site,
                        "1.6",
                        _evses(rng, "ac_11kw", "ac_7kw"),
                        energy_unit="kWh",
                        serial_number="SIM-1600",
                    ),
                    StationSpec(
                        "SIM-CP21",
                        site,
                        "2.1",
                        _evses(rng, "dc_v2x_11kw", "ac_11kw"),
                        serial_number="SIM-2100",
                    ),
                ),
            ),
        )
    )
