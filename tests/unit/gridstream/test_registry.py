"""The site registry: stations belong to sites; unknown stations are their own site."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from gridstream.errors import ConfigError
from gridstream.records import SiteAssignment
from gridstream.registry import SiteRegistry, parse_sites_csv


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
