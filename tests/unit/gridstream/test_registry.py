"""The site registry: stations belong to sites; unknown stations are their own site."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gridstream.errors import ConfigError
from gridstream.records import EvseRating, SiteAssignment
from gridstream.registry import SiteRegistry, parse_sites_csv, parse_sites_file, parse_sites_yaml

ROOT = Path(__file__).parents[3]


def test_unknown_station_is_its_own_site_until_assigned() -> None:
    registry = SiteRegistry("Europe/Brussels")
    assert registry.site_of("CP-1") == "CP-1"
    registry.assign(SiteAssignment(station_id="CP-1", site_id="EAN-1", timezone="Europe/Paris"))
    assert registry.site_of("CP-1") == "EAN-1"
    assert registry.timezone_of("EAN-1") == ZoneInfo("Europe/Paris")
    registry.unassign("CP-1")
    assert registry.site_of("CP-1") == "CP-1"
    assert registry.timezone_of("CP-1") == ZoneInfo("Europe/Brussels")  # the default


def test_sites_csv_needs_only_station_and_site() -> None:
    text = (
        "station_id,site_id,ean,contracted_capacity_w,timezone\n"
        "CP-1,DEPOT,541448800000000001,150000,\n"
        "CP-2,DEPOT,,,Europe/Amsterdam\n"
    )
    one, two = parse_sites_csv(text)
    assert (one.station_id, one.site_id, one.contracted_capacity_w) == ("CP-1", "DEPOT", 150000)
    assert one.timezone == "Europe/Brussels"  # empty cell: the default
    assert (two.ean, two.timezone) == (None, "Europe/Amsterdam")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("station_id,site,x\nCP-1,A,1\n", "unknown column.*site, x"),
        ("station_id,site_id\nCP-1,\n", "line 2.*site_id"),
        ("station_id,site_id,timezone\nCP-1,A,Mars/Olympus\n", "line 2"),
        ("station_id,site_id,contracted_capacity_w\nCP-1,A,lots\n", "line 2.*contracted"),
    ],
)
def test_a_bad_sites_file_names_the_line_and_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sites_csv(text)


def test_rated_power_comes_from_the_evse_then_the_station_and_never_for_evse_0() -> None:
    registry = SiteRegistry()
    registry.assign(
        SiteAssignment(
            station_id="CP-1",
            site_id="DEPOT",
            rated_power_w=11_000,
            evses=(EvseRating(evse_id=1, rated_power_w=22_000),),
        )
    )
    assert registry.rated_power_w("CP-1", 1) == 22_000  # listed
    assert registry.rated_power_w("CP-1", 2) == 11_000  # not listed: the station's default
    assert registry.rated_power_w("CP-1", None) == 11_000  # an EVSE, which one not known
    assert registry.rated_power_w("CP-1", 0) is None  # the main meter sums all EVSEs
    assert registry.rated_power_w("CP-9", 1) is None  # unknown station


def test_a_new_entry_for_a_station_replaces_its_site_and_ratings() -> None:
    registry = SiteRegistry()
    registry.assign(SiteAssignment(station_id="CP-1", site_id="DEPOT", rated_power_w=11_000))
    registry.assign(
        SiteAssignment(station_id="CP-1", site_id="OFFICE", timezone="Europe/Amsterdam",
                       evses=(EvseRating(evse_id=1, rated_power_w=7_400),))
    )  # fmt: skip
    assert registry.site_of("CP-1") == "OFFICE"
    assert registry.rated_power_w("CP-1", 1) == 7_400
    assert registry.rated_power_w("CP-1", 2) is None  # no station default any more
    assert registry.timezone_of("OFFICE") == ZoneInfo("Europe/Amsterdam")


def test_an_evse_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        twice = (EvseRating(evse_id=1, rated_power_w=1.0), EvseRating(evse_id=1, rated_power_w=2.0))
        SiteAssignment(station_id="CP-1", site_id="A", evses=twice)


def test_sites_csv_carries_every_site_field_and_evse_ratings() -> None:
    text = (
        "station_id,site_id,contracted_capacity_w,contracted_export_capacity_w,dso,"
        "congestion_area,connection_group,brp,tariff_regime,evses\n"
        "CP-1,DEPOT,150000,50000,Fluvius,GENT-N,GENT-N-07,10X1001A1001A094,capacity,"
        "1:22000; 2=11000\n"
    )
    (entry,) = parse_sites_csv(text)
    assert (entry.contracted_capacity_w, entry.contracted_export_capacity_w) == (150_000, 50_000)
    assert (entry.dso, entry.congestion_area, entry.connection_group) == (
        "Fluvius", "GENT-N", "GENT-N-07")  # fmt: skip
    assert (entry.brp, entry.tariff_regime) == ("10X1001A1001A094", "capacity")
    assert [(e.evse_id, e.rated_power_w) for e in entry.evses] == [(1, 22_000), (2, 11_000)]


def test_a_bad_evses_cell_names_the_line() -> None:
    with pytest.raises(ConfigError, match="line 2: evses: '1-22000' is not EVSE_ID:RATED"):
        parse_sites_csv("station_id,site_id,evses\nCP-1,A,1-22000\n")


def test_the_example_yaml_gives_one_entry_per_station_with_its_site_fields() -> None:
    text = (ROOT / "examples" / "sites.yaml").read_text()
    one, two = parse_sites_file(text, ".yaml")
    assert (one.station_id, two.station_id) == ("CP-0001", "CP-0002")
    for entry in (one, two):  # the site's fields, on each of its stations
        assert entry.site_id == "DEPOT-GENT"
        assert entry.ean == "541448800000000001"
        assert entry.name == "Depot Gent"
        assert (entry.contracted_capacity_w, entry.contracted_export_capacity_w) == (
            150_000, 50_000)  # fmt: skip
        assert (entry.dso, entry.congestion_area, entry.connection_group) == (
            "Fluvius", "GENT-NOORD", "GENT-NOORD-MS-07")  # fmt: skip
        assert (entry.brp, entry.tariff_regime) == ("10X1001A1001A094", "capacity_tariff_flanders")
    registry = SiteRegistry()
    for entry in (one, two):
        registry.assign(entry)
    assert registry.rated_power_w("CP-0001", 2) == 22_000
    assert registry.rated_power_w("CP-0002", 2) == 11_000
    assert registry.assignment_of("CP-0002") == two
    assert two.vendor == "Alfen"


def test_the_readme_csv_example_parses_like_the_yaml_one() -> None:
    readme = (ROOT / "README.md").read_text()
    csv_text = readme.split("```csv\n", 1)[1].split("```", 1)[0]
    yaml_one, _ = parse_sites_file((ROOT / "examples" / "sites.yaml").read_text(), ".yml")
    csv_one, _ = parse_sites_file(csv_text, ".csv")
    assert csv_one.model_copy(update={"name": "Depot Gent"}) == yaml_one


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sites: 3\n", "a list 'sites'"),
        ("sites:\n  - site_id: A\n    colour: red\n", "site A: unknown field.*colour"),
        ("sites:\n  - site_id: A\n    stations:\n      - station_id: CP-1\n        dso: X\n",
         "site A, station CP-1: unknown field.*dso"),
        ("sites:\n  - site_id: A\n    contracted_capacity_w: lots\n    stations:\n"
         "      - station_id: CP-1\n", "site A, station CP-1: contracted_capacity_w"),
        ("sites:\n  - site_id: A\n    stations:\n      - station_id: CP-1\n"
         "        evses: {1: -5}\n", "station CP-1: evses.0.rated_power_w"),
        ("sites: [\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_a_bad_yaml_sites_file_names_the_site_station_and_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sites_yaml(text)


def test_a_site_is_described_by_its_stations_entries_until_the_last_one_moves_away() -> None:
    registry = SiteRegistry()
    assert registry.site_info("EAN-1") is None
    registry.assign(SiteAssignment(station_id="CP-2", site_id="EAN-1", brp="10X-BRP"))
    registry.assign(SiteAssignment(station_id="CP-1", site_id="EAN-1", brp="10X-BRP"))
    assert registry.site_info("EAN-1").station_id == "CP-1"  # type: ignore[union-attr]
    registry.assign(SiteAssignment(station_id="CP-1", site_id="EAN-2"))  # CP-1 moves
    assert registry.site_info("EAN-1").station_id == "CP-2"  # type: ignore[union-attr]
    assert registry.site_info("EAN-2").station_id == "CP-1"  # type: ignore[union-attr]
    registry.unassign("CP-2")
    assert registry.site_info("EAN-1") is None
