"""What the simulated fleet is made of: sites, their stations, and each station's EVSEs.

Pure data: no clock, no I/O, no global randomness. ``default_fleet`` and ``small_fleet``
take a ``random.Random`` and draw from it only per-EVSE seeds and starting register values,
so the same seed gives the same fleet (and, through ``sessions.plan_sessions``, the same
sessions).

The fleet also produces the registry entries (``SiteAssignment``) that tell the pipeline
which stations share a grid connection.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Final, Literal

from gridstream.records import SiteAssignment
from simulator.quirks import (
    Discharging,
    GridDisturbance,
    MeterReset,
    Misread,
    Offline,
    Sampling,
    Visit,
)

OcppVersion = Literal["1.6", "2.0.1", "2.1"]
"""OCPP version a station speaks (its websocket subprotocol is ``"ocpp" + version``)."""

EvseKind = Literal["ac_7kw", "ac_11kw", "dc_50kw", "dc_v2x_11kw"]
"""Kind of supply equipment. ``dc_v2x_11kw`` is bidirectional (OCPP 2.1 only)."""

EnergyUnit = Literal["Wh", "kWh"]

MeterKind = Literal["register", "power_only"]
"""``register``: the EVSE reports energy registers (and power); ``power_only``: power
samples and no energy register (DOMAIN.md: energy is then the integral of power)."""


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
    ``initial_export_wh`` are the registers when the simulation starts. ``visits`` are
    sessions planned at fixed times, before the drawn ones; ``meter``, ``misread`` and
    ``reset`` are the meter's quirks (``simulator.quirks``), ``grid`` what the grid does.
    """

    evse_id: int
    kind: EvseKind
    seed: int
    connector_id: int = 1
    initial_import_wh: int = 0
    initial_export_wh: int = 0
    meter: MeterKind = "register"
    misread: Misread | None = None
    reset: MeterReset | None = None
    visits: tuple[Visit, ...] = ()
    #: Whether its meter reports the grid frequency (``Frequency``), and the grid's
    #: excursions it reads (``quirks.GridDisturbance``).
    reports_frequency: bool = False
    grid: tuple[GridDisturbance, ...] = ()

    def __post_init__(self) -> None:
        """Refuse register quirks without a register, discharge without V2X, overlapping visits."""
        if self.meter == "power_only" and (self.misread or self.reset):
            raise ValueError(
                f"EVSE {self.evse_id}: a power-only meter has no register to misread or reset"
            )
        if not self.bidirectional and any(v.discharge for v in self.visits):
            raise ValueError(f"EVSE {self.evse_id}: a {self.kind} EVSE cannot discharge")
        if self.visits and self.visits[0].reuse_transaction_id:
            raise ValueError(f"EVSE {self.evse_id}: a first visit has no transaction id to reuse")
        for before, after in itertools.pairwise(self.visits):
            if after.arrive_after < before.arrive_after + before.stay:
                raise ValueError(
                    f"EVSE {self.evse_id}: a visit at {after.arrive_after} arrives before the "
                    f"one at {before.arrive_after} leaves"
                )

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
    #: When the station samples its meters (its own period, minute boundaries).
    sampling: Sampling = Sampling()
    #: Windows in which the station queues its messages and sends them late.
    offline: tuple[Offline, ...] = ()

    def __post_init__(self) -> None:
        """Refuse bad identities, V2X outside OCPP 2.1, and 2.x-only quirks on 1.6."""
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
        if self.version == "1.6" and any(
            e.meter == "power_only" or any(v.reuse_transaction_id for v in e.visits)
            for e in self.evses
        ):
            raise ValueError(
                f"station {self.station_id}: power-only meters and reused transaction ids "
                "need OCPP 2.x (1.6 StartTransaction needs meterStart; the CSMS picks the id)"
            )

    @property
    def rated_power_w(self) -> float:
        """The most any one of its EVSEs can draw or feed, W."""
        return max(max(e.spec.max_power_w, e.spec.max_discharge_w) for e in self.evses)

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
                rated_power_w=station.rated_power_w,
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


def _min(minutes: float) -> timedelta:
    """An offset from the run's start, in (whole seconds of) minutes."""
    return timedelta(seconds=round(minutes * 60))


def _quirk(evses: tuple[EvseSpec, ...], evse_id: int, **changes: Any) -> tuple[EvseSpec, ...]:
    """``evses`` with ``changes`` (visits, meter quirks) made to EVSE ``evse_id``."""
    return tuple(replace(e, **changes) if e.evse_id == evse_id else e for e in evses)


#: Every minute boundary sampled: the stations of a site whose load is netted per minute
#: (one with V2X), so that the ledger knows each meter's energy per minute exactly.
NETTED: Final = Sampling(every_minute=True)


def default_fleet(rng: random.Random) -> Fleet:
    """Three Belgian sites, seven stations (three 1.6, two 2.0.1, two 2.1), 16 EVSEs.

    ===============  ==========================  =====  ==================================
    site             station                     OCPP   EVSEs (sample period)
    ===============  ==========================  =====  ==================================
    BE-ANT-DEPOT     ANT-DEPOT-AC1 (kWh)         1.6    4 x AC 11 kW (7 min)
    BE-ANT-DEPOT     ANT-DEPOT-DC1               1.6    2 x DC 50 kW (37 s)
    BE-GNT-OFFICE    GNT-OFFICE-AC1              2.0.1  3 x AC 11 kW (every minute)
    BE-GNT-OFFICE    GNT-OFFICE-V2X1             2.1    V2X DC 11 kW, AC 7.4 kW (37 s and
                                                        every minute)
    BE-BRU-RETAIL    BRU-RETAIL-AC1              1.6    2 x AC 7.4 kW (150 s)
    BE-BRU-RETAIL    BRU-RETAIL-DC1              2.1    2 x DC 50 kW (45 s)
    BE-BRU-RETAIL    BRU-RETAIL-AC2              2.0.1  AC 11 kW, power only (10 s)
    ===============  ==========================  =====  ==================================

    Every station also samples every quarter-hour boundary. The quirks, at fixed minutes
    after the run's start S (``simulator.quirks``; the README's table lists them):

    - S+20: ANT-DEPOT-AC1 EVSE 2 (charging since S+2) misreads its register as "0.000"
      kWh at its next periodic sample (S+22); S+12: BRU-RETAIL-DC1 EVSE 2 (charging
      since S+5) reads one digit of its register as 0 at its next periodic sample; S+30:
      BRU-RETAIL-AC1 EVSE 1 (charging since S+25) reads one as 9 (a jump up) at S+32:30.
    - S+25:10: ANT-DEPOT-DC1 EVSE 1 (charging since S+10) gets a new meter whose register
      starts at 1,000 Wh.
    - S+20 to S+40: BRU-RETAIL-DC1 is offline and sends its queued TransactionEvents
      (``offline: true``) at S+40; S+35 to S+50: ANT-DEPOT-AC1 queues its MeterValues and
      sends them at S+50.
    - BRU-RETAIL-AC2 EVSE 1 reports power only (charging S+4 to S+44, S+50 to S+110).
    - BRU-RETAIL-DC1 EVSE 1: the session at S+42 reuses the transaction id of the one that
      ended at S+18.
    - BE-GNT-OFFICE: GNT-OFFICE-V2X1 EVSE 1 discharges 10 kW from S+8 to S+38 while
      GNT-OFFICE-AC1 EVSE 1 charges 11 kW (S+5 to S+28), then GNT-OFFICE-V2X1 EVSE 2
      7.4 kW (from S+28): the site imports, exports, then imports again, netted per minute.
    - GNT-OFFICE-AC1 EVSE 1 reports an EMS limit of 7 kW for an hour from S+5
      (NotifyChargingLimit) and keeps charging at 11 kW: it does not comply.
    - GNT-OFFICE-V2X1 EVSE 1 reads the grid frequency: 49.72 Hz from S+20 to S+22, while
      it discharges at its 10 kW maximum (no response possible); its EVSE 2 reads 204 V on
      L1 from S+45 to S+48.

    The layout and the quirks are fixed; ``rng`` draws each EVSE's session seed and
    starting registers (sessions after the planned visits are drawn from the seed).
    """
    ant = "BE-ANT-DEPOT"
    gnt = "BE-GNT-OFFICE"
    bru = "BE-BRU-RETAIL"
    ac_visit = Visit(_min(2), _min(90), ev_max_power_w=11_040.0, soc_start_pct=20.0)
    ant_ac = _quirk(
        _evses(rng, "ac_11kw", "ac_11kw", "ac_11kw", "ac_11kw"),
        2,
        visits=(ac_visit,),
        misread=Misread(_min(20), "zero"),
    )
    dc_visit = Visit(
        _min(10),
        _min(40),
        ev_max_power_w=50_000.0,
        soc_start_pct=20.0,
        soc_target_pct=80.0,
        capacity_wh=64_000.0,
        taper_from_pct=60.0,
    )
    ant_dc = _quirk(
        _evses(rng, "dc_50kw", "dc_50kw"),
        1,
        visits=(dc_visit,),
        reset=MeterReset(_min(25 + 1 / 6), new_import_wh=1_000),
    )
    gnt_ac = _evses(rng, "ac_11kw", "ac_11kw", "ac_11kw")
    gnt_ac = _quirk(
        gnt_ac, 1, visits=(Visit(_min(5), _min(23), 11_040.0, 30.0, ems_limit_w=7_000.0),)
    )
    # EVSEs 2 and 3 stay free until the discharge is over, so the site exports then.
    gnt_ac = _quirk(gnt_ac, 2, visits=(Visit(_min(40), _min(60), 11_040.0),))
    gnt_ac = _quirk(gnt_ac, 3, visits=(Visit(_min(50), _min(45), 7_360.0),))
    v2x_visit = Visit(
        _min(1),
        _min(150),
        ev_max_power_w=11_000.0,
        soc_start_pct=60.0,
        discharge=Discharging(_min(8), _min(30), power_w=10_000.0),
    )
    gnt_v2x = _quirk(
        _evses(rng, "dc_v2x_11kw", "ac_7kw"),
        1,
        visits=(v2x_visit,),
        reports_frequency=True,
        grid=(GridDisturbance(_min(20), _min(2), frequency_hz=49.72),),
    )
    gnt_v2x = _quirk(
        gnt_v2x,
        2,
        visits=(Visit(_min(28), _min(60), 7_360.0, 30.0),),
        grid=(GridDisturbance(_min(45), _min(3), voltage_l1_v=204.0),),
    )
    bru_dc_visit = replace(dc_visit, capacity_wh=100_000.0)
    bru_dc = _quirk(
        _evses(rng, "dc_50kw", "dc_50kw"),
        1,
        visits=(
            replace(bru_dc_visit, arrive_after=_min(3), stay=_min(15)),
            replace(bru_dc_visit, arrive_after=_min(42), stay=_min(15), reuse_transaction_id=True),
        ),
    )
    bru_dc = _quirk(
        bru_dc,
        2,
        visits=(replace(bru_dc_visit, arrive_after=_min(5), stay=_min(30)),),
        misread=Misread(_min(12), "digit"),
    )
    bru_ac = _quirk(
        _evses(rng, "ac_7kw", "ac_7kw"),
        1,
        visits=(Visit(_min(25), _min(60), 7_360.0),),
        misread=Misread(_min(30), "jump"),
    )
    power_only = _quirk(
        _evses(rng, "ac_11kw"),
        1,
        meter="power_only",
        visits=(
            Visit(_min(4), _min(40), 11_040.0, capacity_wh=40_000.0),
            # From 90 % the EV tapers: the power changes at every sample.
            Visit(_min(50), _min(60), 11_040.0, 85.0, 100.0, capacity_wh=40_000.0),
        ),
    )
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
                        ant_ac,
                        model="SIM-AC4",
                        serial_number="SIM-0001",
                        energy_unit="kWh",
                        sampling=Sampling(period=_min(7)),
                        offline=(Offline(_min(35), _min(15)),),
                    ),
                    StationSpec(
                        "ANT-DEPOT-DC1",
                        ant,
                        "1.6",
                        ant_dc,
                        model="SIM-DC50",
                        serial_number="SIM-0002",
                        sampling=Sampling(period=timedelta(seconds=37)),
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
                        gnt_ac,
                        model="SIM-AC3",
                        serial_number="SIM-0003",
                        sampling=Sampling(period=_min(1), every_minute=True),
                    ),
                    StationSpec(
                        "GNT-OFFICE-V2X1",
                        gnt,
                        "2.1",
                        gnt_v2x,
                        model="SIM-V2X",
                        serial_number="SIM-0004",
                        sampling=Sampling(period=timedelta(seconds=37), every_minute=True),
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
                        bru_ac,
                        model="SIM-AC2",
                        serial_number="SIM-0005",
                        sampling=Sampling(period=timedelta(seconds=150)),
                    ),
                    StationSpec(
                        "BRU-RETAIL-DC1",
                        bru,
                        "2.1",
                        bru_dc,
                        model="SIM-DC50",
                        serial_number="SIM-0006",
                        sampling=Sampling(period=timedelta(seconds=45)),
                        offline=(Offline(_min(20), _min(20)),),
                    ),
                    StationSpec(
                        "BRU-RETAIL-AC2",
                        bru,
                        "2.0.1",
                        power_only,
                        model="SIM-AC1-NOMETER",
                        serial_number="SIM-0007",
                        sampling=Sampling(period=timedelta(seconds=10)),
                    ),
                ),
            ),
        )
    )


def small_fleet(rng: random.Random) -> Fleet:
    """One site (``SIM-SITE``) with a 1.6 station and a 2.1 station, two EVSEs each.

    ``SIM-CP16`` (1.6, reports kWh): AC 11 kW, AC 7.4 kW. ``SIM-CP21`` (2.1): V2X DC
    11 kW, AC 11 kW. Both sample every minute boundary (the site's load is netted per
    minute). No quirks. Meant for fast tests.
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
                        sampling=NETTED,
                    ),
                    StationSpec(
                        "SIM-CP21",
                        site,
                        "2.1",
                        _evses(rng, "dc_v2x_11kw", "ac_11kw"),
                        serial_number="SIM-2100",
                        sampling=NETTED,
                    ),
                ),
            ),
        )
    )
