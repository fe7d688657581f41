"""DuckDB views over the Parquet files: columns, unnesting, latest revisions, de-duplication."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gridstream.records import EnergyBalance, EVChargingNeeds, StationInfo
from warehouse.catalog import open_catalog, refresh_views, view_names
from warehouse.layout import BatchFile
from warehouse.sink import ParquetSink

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
Factory = Callable[..., Any]
Write = Callable[..., ParquetSink]

REQUIRED_COLUMNS = {
    "meter_readings": [
        "ts",
        "station_id",
        "evse_id",
        "connector_id",
        "site_id",
        "transaction_id",
        "measurand",
        "phase",
        "location",
        "value",
        "unit",
        "source",
        "context",
        "charging_profile_id",
    ],
    "quarter_hour_load": [
        "site_id",
        "interval_start",
        "import_wh",
        "export_wh",
        "avg_import_w",
        "avg_export_w",
        "completeness",
        "estimated",
        "revision",
        "meters",
    ],
    "peaks": ["site_id", "month", "peak_w", "interval_start"],
    "sessions": [
        "station_id",
        "transaction_id",
        "started_at",
        "ended_at",
        "site_id",
        "evse_id",
        "energy_wh",
    ],
    "meter_samples": ["ts", "station_id", "readings", "_partition", "_offset", "_epoch", "date"],
    "transactions": ["ts", "transaction_id", "event_type", "meter_wh"],
    "ev_charging_needs": ["ts", "departure_time", "target_energy_wh"],
    "grid_signals": [
        "kind",
        "scope_type",
        "scope_id",
        "interval_start",
        "interval_end",
        "resolution",
        "value",
        "unit",
        "source",
        "document_id",
        "revision",
        "received_at",
    ],
    "grid_signals_history": ["kind", "scope_id", "interval_start", "revision", "_offset", "date"],
    "dead_letters": ["source", "reason", "detail", "raw", "received_at"],
    "site_registry": ["station_id", "site_id", "ean", "congestion_area", "timezone"],
    "station_boots": ["station_id", "received_at", "vendor", "model", "serial_number", "date"],
    "stations": [
        "station_id",
        "vendor",
        "model",
        "serial_number",
        "firmware_version",
        "source",
        "received_at",
    ],
    "transaction_seq_gaps": [
        "station_id",
        "transaction_id",
        "first_missing_seq_no",
        "last_missing_seq_no",
        "missing",
    ],
}


def query(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with open_catalog(data_dir) as connection:
        return connection.execute(sql).fetchall()


def columns(data_dir: Path, view: str) -> list[str]:
    with open_catalog(data_dir) as connection:
        return [row[0] for row in connection.execute(f"DESCRIBE {view}").fetchall()]


@pytest.mark.parametrize("view", REQUIRED_COLUMNS)
def test_every_view_exists_with_its_columns_before_any_data(data_dir: Path, view: str) -> None:
    got = columns(data_dir, view)
    assert [c for c in REQUIRED_COLUMNS[view] if c not in got] == []
    assert query(data_dir, f"SELECT count(*) FROM {view}") == [(0,)]


def test_refresh_views_is_idempotent_and_names_every_view(data_dir: Path) -> None:
    first = refresh_views(data_dir)
    assert refresh_views(data_dir) == first == view_names()
    assert (data_dir / "gridstream.duckdb").is_file()
    with duckdb.connect(str(data_dir / "gridstream.duckdb"), read_only=True) as connection:
        stored = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW'"
            ).fetchall()
        }
    assert stored == set(first)


def test_a_view_reads_the_files_once_the_first_one_arrives(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    refresh_views(data_dir)  # no files yet: typed and empty
    write([sample_factory(), sample_factory(ts=T0 + timedelta(minutes=1))])
    assert query(data_dir, "SELECT count(*) FROM meter_samples") == [(2,)]


def test_meter_readings_has_one_row_per_reading_in_its_canonical_unit(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    write(
        [
            sample_factory(
                readings=[
                    ("Energy.Active.Import.Register", 1500.0, "Wh", None),
                    ("Current.Import", 16.0, "A", "L1"),
                    ("Current.Import", 15.5, "A", "L2"),
                ]
            ),
            sample_factory(
                ts=T0 + timedelta(minutes=1),
                station_id="st2",
                readings=[("Power.Active.Import", 7400.0, "W", None)],
            ),
        ]
    )
    rows = query(
        data_dir,
        """
        SELECT station_id, measurand, phase, value, unit, context FROM meter_readings
        ORDER BY ts, measurand, phase""",
    )
    assert rows == [
        ("st1", "Current.Import", "L1", 16.0, "A", "Sample.Periodic"),
        ("st1", "Current.Import", "L2", 15.5, "A", "Sample.Periodic"),
        ("st1", "Energy.Active.Import.Register", None, 1500.0, "Wh", "Sample.Periodic"),
        ("st2", "Power.Active.Import", None, 7400.0, "W", "Sample.Periodic"),
    ]


def test_quarter_hour_load_keeps_only_the_latest_revision(
    data_dir: Path, write: Write, load_factory: Factory
) -> None:
    q1, q2 = T0, T0 + timedelta(minutes=15)
    write([load_factory(q1, 100.0, revision=0), load_factory(q2, 200.0, revision=0)])
    # A late reading revises q1 twice; the revisions arrive out of order in a later batch.
    write(
        [load_factory(q1, 130.0, revision=2), load_factory(q1, 120.0, revision=1)], first_offset=2
    )

    rows = query(
        data_dir,
        """
        SELECT interval_start, import_wh, avg_import_w, revision FROM quarter_hour_load
        ORDER BY interval_start""",
    )
    assert rows == [(q1, 130.0, 520.0, 2), (q2, 200.0, 800.0, 0)]  # 130 Wh / 0.25 h = 520 W
    assert query(data_dir, "SELECT count(*) FROM quarter_hour_load_revisions") == [(4,)]


def test_a_newer_broker_epoch_wins_over_an_older_one_s_higher_revision(
    data_dir: Path, write: Write, load_factory: Factory, peak_factory: Factory
) -> None:
    # Run one revised q1 three times; the embedded broker restarted (a new epoch, a worker
    # from empty state) and run two's first figure for q1 is its revision 0.
    later = timedelta(hours=2)
    write([load_factory(T0, 130.0, revision=3), peak_factory("2026-01", 520.0, T0, 3)])
    write(
        [
            load_factory(T0, 150.0, revision=0).model_copy(update={"as_of": T0 + later}),
            peak_factory("2026-01", 600.0, T0, 0).model_copy(update={"as_of": T0 + later}),
        ],
        epoch="gridstream-e0",  # sorts before e1: the order of epoch ids says nothing
    )
    assert query(data_dir, "SELECT import_wh, revision FROM quarter_hour_load") == [(150.0, 0)]
    assert query(data_dir, "SELECT peak_w, revision FROM peaks") == [(600.0, 0)]


def test_peaks_keeps_the_latest_revision_per_site_and_month(
    data_dir: Path, write: Write, peak_factory: Factory
) -> None:
    feb = datetime(2026, 2, 3, 18, 0, tzinfo=UTC)
    write(
        [
            peak_factory("2026-01", 4000.0, T0, 0),
            peak_factory("2026-01", 5200.0, T0 + timedelta(days=2), 1),
            peak_factory("2026-02", 3000.0, feb, 0),
        ]
    )
    rows = query(data_dir, "SELECT month, peak_w, interval_start FROM peaks ORDER BY month")
    assert rows == [("2026-01", 5200.0, T0 + timedelta(days=2)), ("2026-02", 3000.0, feb)]


def test_grid_signals_keeps_the_latest_revision_of_each_signal(
    data_dir: Path, write: Write, signal_factory: Factory
) -> None:
    q1, q2 = T0, T0 + timedelta(minutes=15)
    write(
        [
            signal_factory(q1, 50.0, revision=1),
            signal_factory(q2, 60.0, revision=1),
            # the same quarter-hour republished (revision 2), arriving before revision 1 did
            signal_factory(q1, 55.0, revision=2, document_id="doc-2"),
        ]
    )
    write([signal_factory(q1, 51.0, revision=1)], first_offset=3)  # a late copy of rev. 1
    rows = query(
        data_dir,
        "SELECT interval_start, value, document_id, revision FROM grid_signals "
        "ORDER BY interval_start",
    )
    assert rows == [(q1, 55.0, "doc-2", 2), (q2, 60.0, "doc-1", 1)]
    assert query(data_dir, "SELECT count(*) FROM grid_signals_history") == [(4,)]


def test_grid_signals_keeps_apart_what_differs_in_source_kind_scope_or_interval(
    data_dir: Path, write: Write, signal_factory: Factory
) -> None:
    hour_end = T0 + timedelta(hours=1)
    write(
        [
            signal_factory(T0, 50.0),
            signal_factory(T0, 51.0, source="entsoe/sequence=2"),  # a second auction
            signal_factory(T0, 2900.0, kind="imbalance_price_long", unit="CZK/MWh"),
            signal_factory(T0, 40.0, scope_id="10YNL----------L"),
            signal_factory(T0, 45.0, interval_end=hour_end, resolution="PT60M"),
        ]
    )
    assert query(data_dir, "SELECT count(*) FROM grid_signals") == [(5,)]


def test_site_grid_signals_apply_a_signal_once_its_site_appears_in_the_registry(
    data_dir: Path, write: Write, signal_factory: Factory, assignment_factory: Factory
) -> None:
    ean = "541448800000000001"
    limit = {"kind": "import_capacity_limit", "unit": "W", "source": "openadr3"}
    write(
        [
            signal_factory(T0, 40_000.0, scope_type="site", scope_id=ean, **limit),
            signal_factory(T0, 9.5, kind="congestion_price", scope_type="congestion_area",
                           scope_id="GENT-N"),
            signal_factory(T0, 7_000.0, scope_type="connection_group", scope_id="GENT-N-07",
                           **limit),
            signal_factory(T0, 80.0),  # a bidding-zone price: no site membership to join on
        ]
    )  # fmt: skip
    sql = "SELECT site_id, kind, scope_type, value FROM site_grid_signals ORDER BY value, site_id"
    assert query(data_dir, sql) == []  # kept in grid_signals, no site known yet
    write(
        [
            assignment_factory("CP-1", "DEPOT", ean=ean, congestion_area="GENT-N",
                               connection_group="GENT-N-07"),
            assignment_factory("CP-2", "DEPOT", ean=ean, congestion_area="GENT-N",
                               connection_group="GENT-N-07"),  # a second station: still once
            assignment_factory("CP-3", "OFFICE", congestion_area="GENT-N"),
        ],
        first_offset=10,
    )  # fmt: skip
    assert query(data_dir, sql) == [
        ("DEPOT", "congestion_price", "congestion_area", 9.5),
        ("OFFICE", "congestion_price", "congestion_area", 9.5),
        ("DEPOT", "import_capacity_limit", "connection_group", 7_000.0),
        ("DEPOT", "import_capacity_limit", "site", 40_000.0),  # targeted by its EAN
    ]


def test_sessions_are_one_row_per_transaction_with_energy_from_the_meter_register(
    data_dir: Path, write: Write, transaction_factory: Factory
) -> None:
    end = T0 + timedelta(hours=2)
    write(
        [
            transaction_factory("started", T0, "tx1", meter_wh=10_000.0),
            transaction_factory("updated", T0 + timedelta(hours=1), "tx1"),
            transaction_factory(
                "ended", end, "tx1", meter_wh=32_500.0, stopped_reason="EVDisconnected"
            ),
            transaction_factory("started", T0, "tx2", station_id="st2", site_id="site2", evse_id=2),
        ]
    )
    rows = query(
        data_dir,
        """
        SELECT station_id, transaction_id, site_id, evse_id, started_at, ended_at, energy_wh,
               stopped_reason, events
        FROM sessions ORDER BY station_id""",
    )
    assert rows == [
        # 32,500 Wh at the end - 10,000 Wh at the start = 22,500 Wh
        ("st1", "tx1", "site1", 1, T0, end, 22_500.0, "EVDisconnected", 3),
        ("st2", "tx2", "site2", 2, T0, None, None, None, 1),  # still running
    ]


def test_site_registry_keeps_the_latest_entry_per_station(
    data_dir: Path, write: Write, assignment_factory: Factory
) -> None:
    write(
        [
            assignment_factory("st1", "site1"),
            assignment_factory("st2", "site1"),
            assignment_factory("st1", "site9", ean="541448800000000001"),
        ]
    )
    rows = query(data_dir, "SELECT station_id, site_id, ean FROM site_registry ORDER BY 1")
    assert rows == [("st1", "site9", "541448800000000001"), ("st2", "site1", None)]


def test_stations_keeps_the_latest_boot_per_station(data_dir: Path, write: Write) -> None:
    def boot(station_id: str, minutes: int, firmware: str) -> StationInfo:
        return StationInfo(
            station_id=station_id,
            received_at=T0 + timedelta(minutes=minutes),
            source="ocpp2.1",
            vendor="VendorX",
            model="M1",
            serial_number=f"SN-{station_id}",
            firmware_version=firmware,
        )

    write([boot("st1", 0, "1.0"), boot("st2", 5, "2.0"), boot("st1", 10, "1.1")])
    rows = query(data_dir, "SELECT station_id, firmware_version FROM stations ORDER BY 1")
    assert rows == [("st1", "1.1"), ("st2", "2.0")]  # st1 booted again with new firmware
    assert query(data_dir, "SELECT count(*) FROM station_boots") == [(3,)]


def test_rows_in_a_file_written_twice_appear_once(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    write([sample_factory(), sample_factory(ts=T0 + timedelta(minutes=1))])
    [path] = (data_dir / "parquet" / "meter.samples").rglob("*.parquet")
    # The same batch again under another name (a second sink instance during a rebalance).
    shutil.copy(path, path.with_name(BatchFile("gridstream-e1", 0, 0, 5).name))

    assert query(data_dir, "SELECT count(*) FROM meter_samples") == [(2,)]
    assert query(data_dir, "SELECT count(*) FROM meter_readings") == [(2,)]


def test_the_same_offset_in_two_epochs_is_two_records(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    write([sample_factory()], epoch="gridstream-e1")
    write([sample_factory(ts=T0 + timedelta(hours=1))], epoch="gridstream-e2")
    assert query(data_dir, "SELECT _epoch, _offset FROM meter_samples ORDER BY 1") == [
        ("gridstream-e1", 0),
        ("gridstream-e2", 0),
    ]


def test_the_catalog_file_held_by_another_process_falls_back_to_memory(
    data_dir: Path, write: Write, sample_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    write([sample_factory()])

    def locked(data_dir: Path) -> list[str]:
        raise duckdb.IOException('Could not set lock on file "gridstream.duckdb"')

    monkeypatch.setattr("warehouse.catalog.refresh_views", locked)
    assert query(data_dir, "SELECT count(*) FROM meter_readings") == [(1,)]


# --- exactly once per reading ---------------------------------------------------------


def test_a_reading_delivered_twice_is_shown_once_the_earliest_received(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    readings = [
        ("Energy.Active.Import.Register", 1500.0, "Wh", None),
        ("Current.Import", 16.0, "A", "L1"),
    ]
    first = sample_factory(readings=readings, message_id="m-1", received_at=T0)
    # Re-sent to a restarted connector under a new id, stored at the next offsets...
    resent = sample_factory(
        readings=readings, message_id="m-2", received_at=T0 + timedelta(minutes=5)
    )
    write([first, resent])
    # ...and replayed from the spool once more into a new broker epoch.
    write([first], epoch="gridstream-e2")

    rows = query(
        data_dir, "SELECT measurand, phase, value, message_id FROM meter_readings ORDER BY 1"
    )
    assert rows == [
        ("Current.Import", "L1", 16.0, "m-1"),
        ("Energy.Active.Import.Register", None, 1500.0, "m-1"),
    ]
    assert query(data_dir, "SELECT count(*) FROM meter_samples") == [(3,)]  # every record


def test_readings_differing_in_their_identity_are_all_shown(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    register = ("Energy.Active.Import.Register", 1500.0, "Wh", None)
    write(
        [
            sample_factory(readings=[register]),
            sample_factory(readings=[register], evse_id=2),  # another EVSE
            sample_factory(readings=[register], station_id="st2"),  # another station
            sample_factory(ts=T0 + timedelta(seconds=1), readings=[register]),  # another time
            sample_factory(readings=[("Energy.Active.Import.Register", 1500.0, "Wh", "L1")]),
        ]
    )
    assert query(data_dir, "SELECT count(*) FROM meter_readings") == [(5,)]


def test_a_conflicting_value_for_one_reading_keeps_the_earliest_received(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    later = sample_factory(
        readings=[("Energy.Active.Import.Register", 1600.0, "Wh", None)],
        received_at=T0 + timedelta(minutes=1),
    )
    earlier = sample_factory(readings=[("Energy.Active.Import.Register", 1500.0, "Wh", None)])
    write([later, earlier])  # stored in the other order
    assert query(data_dir, "SELECT value FROM meter_readings") == [(1500.0,)]


def test_sessions_count_an_event_delivered_twice_once(
    data_dir: Path, write: Write, transaction_factory: Factory
) -> None:
    end = T0 + timedelta(hours=1)
    updated = transaction_factory("updated", T0 + timedelta(minutes=30), seq_no=1, seq_gap=0)
    write(
        [
            transaction_factory("started", T0, seq_no=0, meter_wh=0.0, message_id="a"),
            updated,
            # The same event re-sent to a restarted connector: new id, later, gap and EVSE
            # no longer known.
            updated.model_copy(
                update={"message_id": "b", "received_at": end, "seq_gap": None, "evse_id": None}
            ),
            transaction_factory("ended", end, seq_no=2, meter_wh=5000.0),
        ]
    )
    assert query(data_dir, "SELECT events, energy_wh FROM sessions") == [(3, 5000.0)]
    assert query(data_dir, "SELECT count(*) FROM transactions") == [(4,)]  # every record


def test_transaction_seq_gaps_lists_what_is_still_missing(
    data_dir: Path, write: Write, transaction_factory: Factory
) -> None:
    def event(seq_no: int, transaction_id: str = "tx1") -> Any:
        return transaction_factory("updated", T0, transaction_id, seq_no=seq_no)

    # tx1 received 0, 1, 4, 5, 8 and a late 2 (twice); tx2 is complete; a 1.6 session
    # (no seqNos) has nothing to miss.
    write([event(n) for n in (0, 1, 4, 5, 2, 8, 2)] + [event(n, "tx2") for n in (3, 4)])
    write([transaction_factory("started", T0, "tx16")], first_offset=100)

    rows = query(
        data_dir,
        """
        SELECT transaction_id, first_missing_seq_no, last_missing_seq_no, missing
        FROM transaction_seq_gaps ORDER BY 1, 2""",
    )
    assert rows == [("tx1", 3, 3, 1), ("tx1", 6, 7, 2)]


def test_a_session_across_a_meter_reset_has_no_energy_rather_than_a_negative_one(
    data_dir: Path, write: Write, transaction_factory: Factory
) -> None:
    # meterStart 317,693 Wh on the old meter, meterStop 1,000 Wh on the new one
    end = T0 + timedelta(hours=1)
    write(
        [
            transaction_factory("started", T0, seq_no=0, meter_wh=317_693.0),
            transaction_factory("ended", end, seq_no=1, meter_wh=1_000.0),
        ]
    )
    assert query(data_dir, "SELECT meter_start_wh, meter_end_wh, energy_wh FROM sessions") == [
        (317_693.0, 1_000.0, None)
    ]


def test_a_v2x_session_s_discharge_is_held_against_what_its_ev_offered(
    data_dir: Path, write: Write
) -> None:
    def period(minutes: int, export_wh: float) -> EnergyBalance:
        return EnergyBalance(
            scope="session", site_id="site1", station_id="st1", evse_id=1,
            transaction_id="T1", bidding_zone="10YBE----------2",
            interval_start=T0 + timedelta(minutes=minutes), import_wh=0.0,
            export_wh=export_wh, net_wh=-export_wh, revision=0, computed_by="test", as_of=T0,
        )  # fmt: skip

    def needs(minutes: int, min_v2x_wh: float) -> EVChargingNeeds:
        return EVChargingNeeds(
            ts=T0 + timedelta(minutes=minutes), station_id="st1", site_id="site1", evse_id=1,
            source="ocpp2.1", received_at=T0, requested_energy_transfer="DC_BPT",
            min_v2x_energy_wh=min_v2x_wh,
        )  # fmt: skip

    # Told at 10:01 that 3 kWh lie above its minimum V2X state of charge (-3,000 Wh), then
    # at 10:20 that 1 kWh do; another EV on the EVSE told 9 kWh at 12:00, after the session.
    write([period(0, 1_500.0), period(15, 2_000.0)])
    write([needs(1, -3_000.0), needs(20, -1_000.0), needs(120, -9_000.0)])
    rows = query(
        data_dir,
        "SELECT export_wh, ev_dischargeable_wh, discharged_beyond_offer_wh "
        "FROM v2x_balance_sessions",
    )
    # The latest word within the session (10:20): 1,000 Wh on offer, 3,500 Wh discharged.
    assert rows == [(3_500.0, 1_000.0, 2_500.0)]


def test_a_batch_written_twice_before_the_tables_appears_once_after_adoption(
    data_dir: Path, tmp_path: Path, write: Write, sample_factory: Factory
) -> None:
    write([sample_factory(), sample_factory(ts=T0 + timedelta(minutes=1))])
    [path] = (data_dir / "parquet" / "meter.samples").rglob("*.parquet")
    old = tmp_path / "old"  # the same files, and the batch again, with no table log
    folder = old / "parquet" / "meter.samples" / path.parent.name
    folder.mkdir(parents=True)
    shutil.copy(path, folder / path.name)
    shutil.copy(path, folder / BatchFile("gridstream-e1", 0, 0, 5).name)
    ParquetSink(old, "gridstream-e1")  # adopts both files into a new table

    assert query(old, "SELECT count(*) FROM meter_samples") == [(2,)]
    assert query(old, "SELECT count(*) FROM meter_readings") == [(2,)]


def test_a_sample_holding_one_reading_twice_shows_it_once(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    from warehouse.table import TopicTable

    register = ("Energy.Active.Import.Register", 1000.0, "Wh", None)
    sink = write([sample_factory(), sample_factory(ts=T0 + timedelta(minutes=1))])
    assert sink.table("meter.samples").readings_distinct()
    write([sample_factory(ts=T0 + timedelta(minutes=2), readings=[register, register])], 0, 2)

    table: TopicTable = sink.table("meter.samples")
    assert not table.readings_distinct()  # from now on the view compares every reading
    assert query(data_dir, "SELECT count(*) FROM meter_readings") == [(3,)]


# --- pruning: a date filter or a narrowed catalog reads only those days' files -------------


def files_read(data_dir: Path, sql: str, days: Any = None) -> list[int]:
    """How many Parquet files each file scan of ``sql`` opened (its EXPLAIN ANALYZE)."""
    import re

    with open_catalog(data_dir, days) as connection:
        plan = connection.execute(f"EXPLAIN ANALYZE {sql}").fetchall()[0][1]
    return [int(n) for n in re.findall(r"Total Files Read: (\d+)", plan)]


def test_a_date_filter_on_meter_readings_opens_only_that_day_s_files(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    # Three days, two flushes a day: six files.
    for day in range(3):
        for flush in range(2):
            ts = T0 + timedelta(days=day, minutes=flush)
            write([sample_factory(ts=ts)], first_offset=day * 2 + flush)
    everything = "SELECT count(*) FROM meter_readings"
    one_day = f"{everything} WHERE date = DATE '2026-01-16'"

    scans = files_read(data_dir, everything)
    assert scans and set(scans) == {6}  # each scan of the samples (the view has two)
    assert files_read(data_dir, one_day) == [2] * len(scans)
    assert query(data_dir, one_day) == [(2,)]


def test_a_catalog_narrowed_to_some_days_lists_only_their_files(
    data_dir: Path, write: Write, sample_factory: Factory
) -> None:
    from datetime import date

    from warehouse.catalog import committed_files, month_days

    write([sample_factory(ts=T0 + timedelta(days=d)) for d in (0, 31, 62)])  # Jan, Feb, Mar
    february = month_days("2026-02")  # and a day either side: Jan 31 to Mar 1
    assert february == (date(2026, 1, 31), date(2026, 3, 1))
    assert len(committed_files(data_dir, "meter.samples")) == 3
    assert [Path(f).parent.name for f in committed_files(data_dir, "meter.samples", february)] == [
        "date=2026-02-15"
    ]
    assert set(files_read(data_dir, "SELECT count(*) FROM meter_readings", february)) == {1}
