"""Pilot history from files: readings grouped into samples, OCPP logs read as the proxy would."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from connectors.history.ocpp_log import OcppLogReader
from connectors.history.readings import readings_csv, samples_ndjson, samples_parquet
from gridstream.records import MeterSample, TransactionEvent

FIXTURES = Path(__file__).parents[3] / "fixtures" / "history"
RECEIVED = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_readings_of_one_instant_make_one_sample_in_canonical_units() -> None:
    samples, rejected = readings_csv(
        (FIXTURES / "readings_one_evse.constructed.csv").read_bytes(), lambda s: "unused",
        RECEIVED, "readings.csv",
    )  # fmt: skip
    assert len(samples) == 13  # every 5 minutes from 08:00 to 09:00
    first = samples[0]
    assert (first.ts, first.station_id, first.site_id, first.evse_id, first.transaction_id) == (
        datetime(2026, 1, 15, 8, 0, tzinfo=UTC),
        "GNT-PILOT-1",
        "SITE-B",
        1,
        "T-9",
    )
    assert [(r.measurand, r.value, r.unit) for r in first.readings] == [
        ("Energy.Active.Import.Register", 100_000.0, "Wh")  # 100 kWh
    ]
    assert first.source == "backfill"
    # the 08:30 power row said "abc": rejected alone, the register of that instant kept
    [bad] = rejected
    assert (bad.reason, bad.detail) == (
        "bad_value",
        "readings.csv, line 9: could not convert string to float: 'abc'",
    )
    assert samples[6].readings[0].value == 106_000.0


def test_a_csv_without_the_required_columns_is_refused_naming_them() -> None:
    samples, [rejected] = readings_csv(b"ts,value\n", lambda s: s, RECEIVED)
    assert samples == []
    assert rejected.detail.startswith("CSV: missing column(s) station_id, measurand, unit")


def test_canonical_samples_come_back_from_ndjson_and_parquet_alike() -> None:
    samples, _ = readings_csv(
        (FIXTURES / "readings_one_evse.constructed.csv").read_bytes(), lambda s: s, RECEIVED
    )
    lines = b"\n".join(s.to_json() for s in samples[:3]) + b'\n{"ts": 1}\n'
    from_lines, [bad] = samples_ndjson(lines, "dump.ndjson")
    assert from_lines == samples[:3]
    assert bad.detail.startswith("dump.ndjson, line 4: not a meter sample")
    rows = [s.model_dump() | {"_offset": i} for i, s in enumerate(samples[:3])]
    from_table, rejected = samples_parquet(pa.Table.from_pylist(rows))
    assert (from_table, rejected) == (samples[:3], [])


def test_an_ocpp_log_counts_what_the_csms_answered_once_with_its_transaction_id() -> None:
    reader = OcppLogReader(lambda station: "SITE-LOG", b"k" * 32, RECEIVED)
    lines = (FIXTURES / "ocpp16_session.constructed.ndjson").read_text().splitlines()
    reader.feed(lines)
    out = reader.close()
    events = [r for r in out.records if isinstance(r, TransactionEvent)]
    samples = [r for r in out.records if isinstance(r, MeterSample)]
    # the CSMS's transactionId 77 on the start, the meter values and the stop
    assert [(e.event_type, e.transaction_id) for e in events] == [
        ("started", "77"),
        ("updated", "77"),
        ("ended", "77"),
    ]
    registers = [(s.transaction_id, s.readings[0].value) for s in samples]
    assert registers == [("77", 1000.0), ("77", 3500.0), ("77", 6000.0)]  # 3.5 kWh in Wh
    assert {s.site_id for s in samples} == {"SITE-LOG"}
    assert out.replays == 1  # the MeterValues logged twice counts once
    assert [(d.reason, d.detail) for d in out.letters] == [
        ("malformed_document", "log line 9: Expecting value: line 1 column 1 (char 0)"),
        ("malformed_document", "1 CALL(s) of CS-LOG-1 never answered in the log"),
    ]
