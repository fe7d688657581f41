"""One registry entry per station: the sites file wins field by field over OCPI and boots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridstream.records import OcpiEvse, SiteAssignment, StationInfo
from gridstream.registry import parse_sites_csv
from gridstream.registry_merge import RegistryMerge, merge_station

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
OCPI_STATION = "BE*BEC*3256"


def evse(
    max_power_w: float | None = 22_000, *, minutes: int = 0, zone: str = "Europe/Brussels"
) -> OcpiEvse:
    return OcpiEvse(
        station_id=OCPI_STATION,
        site_id=OCPI_STATION,
        country_code="BE",
        party_id="BEC",
        location_id="LOC1",
        evse_uid="3256",
        status="AVAILABLE",
        max_power_w=max_power_w,
        time_zone=zone,
        ts=T0 + timedelta(minutes=minutes),
        source="ocpi2.2.1",
        received_at=T0,
    )


def boot(station: str = "CP-1", *, minutes: int = 0, model: str = "Wallbox 22") -> StationInfo:
    return StationInfo(
        station_id=station,
        received_at=T0 + timedelta(minutes=minutes),
        source="ocpp2.0.1",
        vendor="ACME",
        model=model,
        serial_number="SN-7",
    )


def test_a_station_only_an_ocpi_location_places_belongs_to_the_locations_site() -> None:
    entry = merge_station(OCPI_STATION, None, evse(zone="Europe/Amsterdam"), None)
    assert entry is not None
    assert entry.site_id == "BE*BEC*LOC1"
    assert entry.rated_power_w == 22_000
    assert entry.timezone == "Europe/Amsterdam"


def test_the_sites_file_wins_field_by_field_and_leaves_the_rest_to_the_location() -> None:
    (configured,) = parse_sites_csv(
        f"station_id,site_id,rated_power_w,ean\n{OCPI_STATION},EAN-541448,11000,541448\n"
    )
    entry = merge_station(OCPI_STATION, configured, evse(22_000, zone="Europe/Paris"), None)
    assert entry is not None
    # the file's site and 11 kW beat the location's; its time zone (not in the file) stays
    assert (entry.site_id, entry.rated_power_w, entry.ean) == ("EAN-541448", 11_000, "541448")
    assert entry.timezone == "Europe/Paris"


def test_a_boot_fills_vendor_model_and_serial_the_sites_file_leaves_empty() -> None:
    (configured,) = parse_sites_csv("station_id,site_id,model\nCP-1,EAN-1,Custom name\n")
    entry = merge_station("CP-1", configured, None, boot())
    assert entry is not None
    assert (entry.site_id, entry.vendor, entry.model, entry.serial_number) == (
        "EAN-1",
        "ACME",
        "Custom name",
        "SN-7",
    )
    alone = merge_station("CP-9", None, None, boot("CP-9"))
    assert alone is not None and alone.site_id == "CP-9"  # its own site, as by default


def test_only_entries_that_changed_are_published_again() -> None:
    merge = RegistryMerge([SiteAssignment(station_id="CP-1", site_id="EAN-1")])
    assert [e.site_id for e in merge.start()] == ["EAN-1"]
    assert [e.vendor for e in merge.boot(boot())] == ["ACME"]
    assert merge.boot(boot(minutes=5)) == []  # the same boot again: nothing new
    assert [e.model for e in merge.boot(boot(minutes=9, model="Wallbox 22 v2"))] == [
        "Wallbox 22 v2"
    ]
    assert merge.boot(boot(minutes=1, model="old")) == []  # an older boot replayed


def test_a_location_patch_that_changes_max_power_changes_the_rated_power() -> None:
    merge = RegistryMerge()
    assert [e.rated_power_w for e in merge.location_evse(evse(22_000))] == [22_000]
    assert [e.rated_power_w for e in merge.location_evse(evse(11_000, minutes=3))] == [11_000]
    assert merge.location_evse(evse(50_000, minutes=1)) == []  # older than the one held
    assert merge.published[OCPI_STATION].rated_power_w == 11_000


def test_a_location_without_a_valid_zone_or_power_leaves_the_defaults() -> None:
    entry = merge_station(OCPI_STATION, None, evse(None, zone="Mars/Olympus"), None)
    assert entry is not None
    assert entry.rated_power_w is None
    assert entry.timezone == SiteAssignment.model_fields["timezone"].default
