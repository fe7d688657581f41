"""Arrow schemas derived from the record models, and batch decoding."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from gridstream import records, topics
from gridstream.records import MeterSample, TransactionEvent
from warehouse.errors import DecodeError
from warehouse.schemas import (
    TIMESTAMP,
    arrow_type,
    event_time_field,
    record_schema,
    records_to_table,
    topic_schema,
)

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
SampleFactory = Callable[..., MeterSample]


@pytest.mark.parametrize("topic", topics.ALL, ids=lambda t: t.name)
def test_every_topic_schema_is_the_record_fields_then_the_sink_columns(
    topic: topics.Topic,
) -> None:
    schema = topic_schema(topic.name)
    assert schema.names == [*topic.record.model_fields, "_partition", "_offset", "_epoch"]
    assert schema.field("_partition").type == pa.int32()
    assert schema.field("_offset").type == pa.int64()
    assert schema.field("_epoch").type == pa.string()
    assert schema.metadata[b"gridstream.record"] == topic.record.__name__.encode()


@pytest.mark.parametrize(
    ("model", "name", "expected", "nullable"),
    [
        (records.MeterSample, "ts", TIMESTAMP, False),  # UtcDatetime: Annotated datetime
        (records.MeterSample, "station_id", pa.string(), False),
        (records.MeterSample, "evse_id", pa.int64(), True),  # int | None
        (records.MeterSample, "source", pa.string(), False),  # Literal of str
        (records.TransactionEvent, "offline", pa.bool_(), False),  # bool with a default
        (records.TransactionEvent, "meter_wh", pa.float64(), True),
        (records.EVChargingNeeds, "departure_time", TIMESTAMP, True),  # UtcDatetime | None
        (records.QuarterHourLoad, "revision", pa.int64(), False),
    ],
)
def test_field_types_follow_the_model_annotations(
    model: type[records.Record], name: str, expected: pa.DataType, nullable: bool
) -> None:
    field = record_schema(model).field(name)
    assert (field.type, field.nullable) == (expected, nullable)


def test_readings_are_a_list_of_structs_with_the_reading_fields() -> None:
    readings = record_schema(records.MeterSample).field("readings").type
    assert pa.types.is_list(readings)
    item = readings.value_type
    assert [item.field(i).name for i in range(item.num_fields)] == list(
        records.Reading.model_fields
    )
    assert item.field("value").type == pa.float64()
    assert item.field("phase").nullable and not item.field("measurand").nullable


def test_an_annotation_without_an_arrow_type_names_the_field() -> None:
    with pytest.raises(TypeError, match=r"Site\.tags: no Arrow type"):
        arrow_type(dict[str, int], "Site.tags")


@pytest.mark.parametrize(
    ("topic", "field"),
    [
        ("meter.samples", "ts"),
        ("transactions", "ts"),
        ("ev.charging_needs", "ts"),
        ("grid.signals", "interval_start"),  # the day the signal is for
        ("load.quarter_hour", "interval_start"),
        ("peaks", "interval_start"),
        ("dlq", "received_at"),
        ("registry.sites", None),  # no event time: date=current
    ],
)
def test_event_time_field_per_topic(topic: str, field: str | None) -> None:
    assert event_time_field(topic) == field


def test_decoded_rows_equal_the_records_they_came_from(sample_factory: SampleFactory) -> None:
    first = sample_factory(
        ts=T0,
        readings=[
            ("Energy.Active.Import.Register", 1000.0, "Wh", None),
            ("Current.Import", 16.5, "A", "L1"),
        ],
        transaction_id="tx1",
    )
    second = sample_factory(ts=datetime(2026, 1, 15, 10, 0, 10, 250_000, tzinfo=UTC), evse_id=None)
    table = records_to_table("meter.samples", [first.to_json(), second.to_json()])

    assert table.schema == record_schema(records.MeterSample)
    rows = table.to_pylist()
    assert rows[0] == first.model_dump(mode="python") | {
        "readings": [r.model_dump() for r in first.readings]
    }
    assert rows[1]["ts"] == datetime(2026, 1, 15, 10, 0, 10, 250_000, tzinfo=UTC)
    assert rows[1]["evse_id"] is None


def test_dicts_and_offsets_other_than_utc_decode_to_the_same_instant(
    transaction_factory: Callable[..., TransactionEvent],
) -> None:
    event = transaction_factory("started", T0, meter_wh=1200.0)
    as_dict = event.model_dump(mode="json") | {"ts": "2026-01-15T11:00:00+01:00"}
    table = records_to_table("transactions", [as_dict])
    assert table.column("ts").to_pylist() == [T0]
    assert table.column("meter_wh").to_pylist() == [1200.0]


def test_an_empty_batch_is_an_empty_table_with_the_schema() -> None:
    table = records_to_table("peaks", [])
    assert table.num_rows == 0
    assert table.schema == record_schema(records.Peak)


GOOD = (
    b'{"ts":"2026-01-15T10:00:00Z","station_id":"st1","site_id":"site1","evse_id":1,'
    b'"connector_id":null,"transaction_id":null,"source":"ocpp2.0.1","message_id":null,'
    b'"received_at":"2026-01-15T10:00:00Z","readings":[{"measurand":"Voltage",'
    b'"value":230.0,"unit":"V","phase":null,"location":null,"context":null,"signed_data":null}]}'
)


def test_the_good_value_of_the_table_below_decodes() -> None:
    assert records_to_table("meter.samples", [GOOD]).num_rows == 1


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b'{"station_id": "st1"}', "required fields missing"),
        (GOOD[:-1] + b', "extra": 1}', "a field the record does not have"),
        (GOOD.replace(b'"evse_id":1', b'"evse_id":"one"'), "wrong type"),
        (b"null", "not an object (Arrow's reader would crash on it)"),
        (b"[1, 2]", "not an object"),
        (b"{not json", "not JSON"),
        (b"", "empty"),
    ],
)
def test_a_value_that_does_not_fit_raises_decode_error(value: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match="meter.samples"):
        records_to_table("meter.samples", [GOOD, value])


def test_pretty_printed_json_is_accepted(sample_factory: SampleFactory) -> None:
    pretty = sample_factory().model_dump_json(indent=2).encode()
    assert records_to_table("meter.samples", [pretty]).num_rows == 1
