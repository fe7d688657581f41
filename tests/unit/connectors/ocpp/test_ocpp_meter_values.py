"""Sampled values -> readings: defaults, units, bad values, signed data, timestamps, grouping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.ocpp import InvalidPayload
from connectors.ocpp.meter_values import (
    reading_v2,
    reading_v16,
    readings_v16,
    timed_readings,
    to_samples,
)
from connectors.ocpp.timestamps import format_timestamp, parse_timestamp
from gridstream.records import Reading

REGISTER = "Energy.Active.Import.Register"


def test_16_value_alone_is_a_wh_import_register_at_the_outlet():
    assert reading_v16({"value": "5"}, "sv") == Reading(
        measurand=REGISTER, value=5.0, unit="Wh", location="Outlet", context="Sample.Periodic"
    )


@pytest.mark.parametrize(
    ("sampled", "value", "unit"),
    [
        ({"value": "1305590.000"}, 1305590.0, "Wh"),  # trailing zeros as stations send them
        ({"value": "0.00"}, 0.0, "Wh"),
        ({"value": "12.345", "unit": "kWh"}, 12345.0, "Wh"),  # 12.345 kWh x 1000
        ({"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"}, 7200.0, "W"),
        ({"value": "16", "measurand": "Current.Import"}, 16.0, "A"),  # default unit A
        ({"value": "50.01", "measurand": "Frequency"}, 50.01, "Hz"),  # 1.6 has no Hz unit
        ({"value": "63", "measurand": "SoC", "unit": "Percent"}, 63.0, "%"),
        ({"value": "-1.5e3", "measurand": "Power.Active.Import"}, -1500.0, "W"),
    ],
)
def test_16_values_are_decimals_converted_to_canonical_units(sampled, value, unit):
    reading = reading_v16(sampled, "sv")
    assert (reading.value, reading.unit) == (value, unit)


def test_16_unit_without_measurand_is_still_the_import_register():
    # PROTOCOLS.md §7: a Transaction.Begin value in kWh without measurand is that register.
    reading = reading_v16({"value": "1.5", "unit": "kWh", "context": "Transaction.Begin"}, "sv")
    assert (reading.measurand, reading.value, reading.unit, reading.context) == (
        REGISTER,
        1500.0,
        "Wh",
        "Transaction.Begin",
    )


@pytest.mark.parametrize(
    "text",
    [
        "",  # seen in the field (lbbrhzn tests)
        "abc",
        "NaN",  # Decimal() would take it
        "Infinity",
        "1_000",  # Decimal() would take it
        " 5",
        "1,5",
    ],
)
def test_16_non_numeric_value_is_a_bad_value_naming_the_field(text):
    with pytest.raises(InvalidPayload) as caught:
        reading_v16({"value": text}, "meterValue[0].sampledValue[2]")
    assert caught.value.reason == "bad_value"
    assert caught.value.detail == (
        f"meterValue[0].sampledValue[2].value: {text!r} is not a decimal number"
    )


def test_16_same_register_with_two_contexts_is_kept_twice():
    # lbbrhzn issues #1709/#1838: Sample.Periodic 4369 and Transaction.Begin 0 side by side.
    readings = readings_v16(
        [{"value": "4369"}, {"value": "0", "context": "Transaction.Begin"}], "mv"
    )
    assert [(r.value, r.context) for r in readings] == [
        (4369.0, "Sample.Periodic"),
        (0.0, "Transaction.Begin"),
    ]


def test_16_signed_data_is_attached_to_its_raw_sibling():
    readings = readings_v16(
        [
            {"value": "1000", "context": "Transaction.End"},
            {"value": "0A1B2C", "format": "SignedData", "context": "Transaction.End"},
            {"value": "1200"},
        ],
        "mv",
    )
    assert [(r.value, r.unit, r.context, r.signed_data) for r in readings] == [
        (1000.0, "Wh", "Transaction.End", "0A1B2C"),
        (1200.0, "Wh", "Sample.Periodic", None),
    ]


def test_16_signed_data_without_sibling_is_kept_without_a_number():
    # No Raw reading with the same key: the signed block is kept, with no number to misread.
    readings = readings_v16(
        [{"value": "1000"}, {"value": "0A1B2C", "format": "SignedData", "context": "Trigger"}],
        "mv",
    )
    assert readings[1] == Reading(
        measurand=REGISTER,
        value=None,
        unit="",
        location="Outlet",
        context="Trigger",
        signed_data="0A1B2C",
    )


@pytest.mark.parametrize(
    ("sampled", "value", "unit"),
    [
        ({"value": 100}, 100.0, "Wh"),  # no unitOfMeasure: Wh
        ({"value": 15234, "unitOfMeasure": {"unit": "kWh", "multiplier": -3}}, 15234.0, "Wh"),
        # ^ 15234 x 10^-3 = 15.234 kWh = 15234 Wh: k-prefix and multiplier both apply
        ({"value": 1.5, "unitOfMeasure": {"multiplier": 3}}, 1500.0, "Wh"),  # unit default Wh
        ({"value": 230.1, "measurand": "Voltage"}, 230.1, "V"),  # not the schema's "Wh"
        ({"value": 49980, "measurand": "Frequency", "unitOfMeasure": {"unit": "mHz"}}, 49.98, "Hz"),
        (
            {"value": 11, "measurand": "Power.Active.Export", "unitOfMeasure": {"unit": "kW"}},
            11000.0,
            "W",
        ),
    ],
)
def test_2x_unit_of_measure_and_multiplier_give_canonical_values(sampled, value, unit):
    reading = reading_v2(sampled, "sv")
    assert (reading.value, reading.unit) == (value, unit)


def test_2x_unknown_unit_is_rejected_as_unknown_unit():
    with pytest.raises(InvalidPayload) as caught:
        reading_v2(
            {"value": 1, "unitOfMeasure": {"unit": "furlong"}}, "meterValue[0].sampledValue[0]"
        )
    assert (caught.value.reason, caught.value.detail) == (
        "unknown_unit",
        "meterValue[0].sampledValue[0]: unit 'furlong' is not known",
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "5"])
def test_2x_value_that_is_not_a_finite_number_is_a_bad_value(value):
    # json.loads accepts NaN and Infinity literals, so they can reach us.
    with pytest.raises(InvalidPayload) as caught:
        reading_v2({"value": value}, "sv")
    assert caught.value.reason == "bad_value"


def test_2x_signed_meter_data_is_kept_raw_beside_the_number():
    signed = {"signedMeterData": "T0NNRnx7fQ==", "encodingMethod": "OCMF"}
    reading = reading_v2({"value": 42, "signedMeterValue": signed}, "sv")
    assert (reading.value, reading.signed_data) == (42.0, "T0NNRnx7fQ==")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-05-05T12:00:00+01:00", datetime(2023, 5, 5, 11, 0, tzinfo=UTC)),
        ("2024-01-01T00:30:00+10:00", datetime(2023, 12, 31, 14, 30, tzinfo=UTC)),  # day before
        ("2024-01-01T00:00:00-05:30", datetime(2024, 1, 1, 5, 30, tzinfo=UTC)),
        ("2023-09-18T08:25:40.20Z", datetime(2023, 9, 18, 8, 25, 40, 200_000, tzinfo=UTC)),
        ("2023-09-18T08:25:40Z", datetime(2023, 9, 18, 8, 25, 40, tzinfo=UTC)),  # 0 digits
        ("2020-02-21T13:48:45.459756Z", datetime(2020, 2, 21, 13, 48, 45, 459756, tzinfo=UTC)),
        ("2020-02-21T13:48:45.4597569Z", datetime(2020, 2, 21, 13, 48, 45, 459756, tzinfo=UTC)),
        # ^ 7 digits (.NET): truncated to microseconds
        ("2024-01-01T00:00:00", datetime(2024, 1, 1, tzinfo=UTC)),  # no offset: UTC
        ("2024-01-01t00:00:00z", datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_timestamps_become_aware_utc(text, expected):
    parsed = parse_timestamp(text, "timestamp")
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-01-01T25:00:00Z", None, 1700000000]
)
def test_unreadable_timestamp_is_a_bad_value(text):
    with pytest.raises(InvalidPayload) as caught:
        parse_timestamp(text, "meterValue[0].timestamp")
    assert caught.value.reason == "bad_value"
    assert caught.value.detail.startswith("meterValue[0].timestamp: ")


def test_current_time_is_utc_milliseconds_with_z():
    assert format_timestamp(datetime(2026, 1, 15, 18, 0, 5, 123456, tzinfo=UTC)) == (
        "2026-01-15T18:00:05.123Z"
    )


def test_entries_at_the_same_instant_merge_into_one_sample_in_order_of_arrival(make_ctx):
    meter_values = [
        {"timestamp": "2026-01-15T10:00:00Z", "sampledValue": [{"value": "1"}]},
        {"timestamp": "2026-01-15T09:00:00Z", "sampledValue": [{"value": "2"}]},
        # Same instant as the first entry, written with an offset.
        {"timestamp": "2026-01-15T11:00:00+01:00", "sampledValue": [{"value": "3"}]},
    ]
    samples = to_samples(
        timed_readings(meter_values, "ocpp1.6"),
        make_ctx(),
        evse_id=1,
        connector_id=1,
        transaction_id=None,
    )
    assert [(s.ts.hour, [r.value for r in s.readings]) for s in samples] == [
        (10, [1.0, 3.0]),
        (9, [2.0]),
    ]


def test_bad_value_in_transaction_data_names_that_list():
    with pytest.raises(InvalidPayload) as caught:
        timed_readings(
            [{"timestamp": "2026-01-15T10:00:00Z", "sampledValue": [{"value": "x"}]}],
            "ocpp1.6",
            "transactionData",
        )
    assert caught.value.detail.startswith("transactionData[0].sampledValue[0].value:")
