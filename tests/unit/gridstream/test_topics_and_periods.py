"""The topic catalog and settlement-period arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridstream import records, topics
from gridstream.periods import month_of, quarter_hour_start, quarter_hours


def test_every_record_type_has_exactly_one_topic_and_its_key_field_exists() -> None:
    assert len(topics.BY_RECORD) == len(topics.ALL)
    for topic in topics.ALL:
        assert topic.key_field in topic.record.model_fields, topic.name


def test_site_keyed_topics_are_co_partitioned() -> None:
    site_keyed = [t for t in topics.ALL if t.key_field == "site_id"]
    assert {t.partitions for t in site_keyed} == {topics.SITE_PARTITIONS}


def test_unknown_topic_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="meter.samples"):
        topics.by_name("meter.sample")


def test_record_is_keyed_by_its_site() -> None:
    t = datetime(2026, 1, 15, 10, tzinfo=UTC)
    peak = records.Peak(site_id="S1", month="2026-01", peak_w=1.0, interval_start=t,
                        revision=0, computed_by="peaks/1", as_of=t)  # fmt: skip
    assert topics.for_record(peak) is topics.PEAKS
    assert topics.key_of(peak) == b"S1"


def test_quarter_hour_is_half_open_and_aligned_on_the_hour() -> None:
    t = datetime(2026, 1, 15, 10, 15, tzinfo=UTC)
    assert quarter_hour_start(t) == t  # 10:15 opens [10:15, 10:30)
    assert quarter_hour_start(t - timedelta(microseconds=1)) == t - timedelta(minutes=15)
    # A +01:00 timestamp is placed by its UTC instant: 11:07+01:00 is 10:07Z.
    local = datetime(2026, 1, 15, 11, 7, tzinfo=ZoneInfo("Europe/Brussels"))
    assert quarter_hour_start(local) == datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    assert quarter_hours(t, t + timedelta(minutes=31)) == [
        t, t + timedelta(minutes=15), t + timedelta(minutes=30)
    ]  # fmt: skip


def test_month_follows_the_site_time_zone() -> None:
    # 23:30Z on 31 January is 00:30 on 1 February in Brussels.
    t = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert month_of(t, ZoneInfo("Europe/Brussels")) == "2026-02"
    assert month_of(t, ZoneInfo("UTC")) == "2026-01"


def signal(**fields: object) -> records.GridSignal:
    values: dict[str, object] = {
        "kind": "day_ahead_price",
        "scope_type": "bidding_zone",
        "scope_id": "10YBE----------2",
        "interval_start": datetime(2026, 1, 1, 10, tzinfo=UTC),
        "interval_end": datetime(2026, 1, 1, 11, tzinfo=UTC),
        "resolution": "PT60M",
        "value": 64.98,
        "unit": "EUR/MWh",
        "source": "entsoe",
        "document_id": "doc-1",
        "revision": 1,
        "received_at": datetime(2026, 1, 1, 9, tzinfo=UTC),
    }
    return records.GridSignal.model_validate(values | fields)


def test_records_refuse_naive_timestamps_and_store_utc() -> None:
    with pytest.raises(ValueError, match="time zone"):
        signal(interval_start=datetime(2026, 1, 1, 10))  # noqa: DTZ001
    # 11:00+01:00 is 10:00Z
    local = signal(interval_start=datetime(2026, 1, 1, 11, tzinfo=ZoneInfo("Europe/Brussels")))
    assert local.interval_start == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert local.interval_start.tzinfo is UTC


def test_a_grid_signal_interval_is_half_open_and_not_empty() -> None:
    with pytest.raises(ValueError, match="must be after interval_start"):
        signal(interval_end=datetime(2026, 1, 1, 10, tzinfo=UTC))


def test_a_grid_signal_is_keyed_by_its_scope_id() -> None:
    # a site's signals share the key (and so the partition) of that site's samples
    site_signal = signal(kind="import_capacity_limit", scope_type="site", scope_id="EAN-1",
                         unit="W")  # fmt: skip
    assert topics.for_record(site_signal) is topics.GRID_SIGNALS
    assert topics.key_of(site_signal) == b"EAN-1"


def test_a_dead_letter_names_a_reason_of_the_one_catalogue() -> None:
    t = datetime(2026, 1, 15, 10, tzinfo=UTC)
    letter = records.DeadLetter(source="ocpp1.6", reason="bad_value", detail="d", raw="[]",
                                received_at=t)  # fmt: skip
    assert letter.reason == "bad_value"
    with pytest.raises(ValueError, match="unknown reason 'oops'; known: malformed_frame"):
        records.DeadLetter(source="ocpp1.6", reason="oops", detail="d", raw="[]", received_at=t)
