"""Contract tests: OpenADR 3.1.0 User Guide examples in tests/fixtures/grid/openadr3."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.grid import detect_format, event_signals, parse_as

FIXTURES = Path(__file__).parent.parent / "fixtures" / "grid" / "openadr3"
RECEIVED = datetime(2023, 2, 9, 12, 0, tzinfo=UTC)
SITE = "871685900000000001"
T0 = datetime(2023, 2, 10, 0, 0, tzinfo=UTC)


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_the_dynamic_operating_envelope_gives_import_and_export_limits_in_watts() -> None:
    data = load("event_capacity_limit.oadr310-ug-8.10.1-1.json")
    assert detect_format("event.json", data) == "openadr3"
    parsed = parse_as("openadr3", data, RECEIVED, SITE)  # no targets: the VEN's own site
    assert parsed.rejected == ()
    half = timedelta(minutes=30)
    rows = [(s.kind, s.interval_start, s.interval_end, s.value, s.unit) for s in parsed.signals]
    assert rows == [  # 10 -> 8 kW import, 4 -> 6 kW export
        ("import_capacity_limit", T0, T0 + half, 10_000.0, "W"),
        ("export_capacity_limit", T0, T0 + half, 4_000.0, "W"),
        ("import_capacity_limit", T0 + half, T0 + 2 * half, 8_000.0, "W"),
        ("export_capacity_limit", T0 + half, T0 + 2 * half, 6_000.0, "W"),
    ]
    assert {(s.scope_type, s.scope_id, s.resolution, s.source) for s in parsed.signals} == {
        ("site", SITE, "PT30M", "openadr3")
    }
    # a create-form event has no id: its name is the document; no modificationDateTime: 0
    assert {(s.document_id, s.revision) for s in parsed.signals} == {("capacity_limit_Event", 0)}


def test_prices_take_currency_and_units_from_the_descriptor() -> None:
    parsed = parse_as("openadr3", load("event_pricing.oadr310-ug-8.3-2.json"), RECEIVED, SITE)
    assert [(s.interval_start, s.value, s.unit) for s in parsed.signals] == [
        (T0, 0.17, "USD/kWh"), (T0 + timedelta(hours=1), 0.03, "USD/kWh")
    ]  # fmt: skip
    assert {s.kind for s in parsed.signals} == {"energy_price"}


def test_an_interval_without_a_start_follows_the_previous_one_with_its_own_duration() -> None:
    data = load("event_variable_intervals.oadr310-ug-7.4-1.json")
    parsed = parse_as("openadr3", data, RECEIVED, SITE)
    assert [(s.interval_start, s.interval_end, s.resolution) for s in parsed.signals] == [
        (T0, T0 + timedelta(hours=1), "PT1H"),
        (T0 + timedelta(hours=1), T0 + timedelta(hours=3), "PT2H"),  # 01:00 + PT2H
    ]


def test_a_read_event_with_a_non_rfc3339_created_time_still_reads() -> None:
    parsed = parse_as("openadr3", load("event_minimal_read.oadr310-ug-7.2-4.json"), RECEIVED, SITE)
    assert [(s.document_id, s.value, s.revision) for s in parsed.signals] == [("0", 0.17, 0)]


def test_a_program_supplies_the_descriptors_its_events_leave_out() -> None:
    event = json.loads(load("event_minimal_read.oadr310-ug-7.2-4.json"))
    program = json.loads(load("program_pricing.oadr310-ug-8.3-1.json"))
    parsed = event_signals(event, RECEIVED, default_site=SITE, program=program)
    assert [s.unit for s in parsed.signals] == ["USD/kWh"]
