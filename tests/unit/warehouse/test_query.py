"""run_query and the three output formats, asserted as exact strings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from warehouse.errors import QueryError
from warehouse.query import format_result, run_query
from warehouse.sink import ParquetSink

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
COLUMNS = ["site_id", "import_wh", "interval_start", "estimated"]
ROWS = [
    ("site1", 1500.5, T0, False),
    ("site22", 20, None, True),
]


def test_table_aligns_columns_numbers_right_with_a_header_rule() -> None:
    assert format_result(COLUMNS, ROWS, "table") == (
        "site_id  import_wh  interval_start             estimated\n"
        "-------  ---------  -------------------------  ---------\n"
        "site1       1500.5  2026-01-15T10:00:00+00:00  false\n"
        "site22          20  NULL                       true\n"
        "(2 rows)"
    )


def test_csv_has_a_header_iso_timestamps_and_empty_nulls() -> None:
    assert format_result(COLUMNS, ROWS, "csv") == (
        "site_id,import_wh,interval_start,estimated\n"
        "site1,1500.5,2026-01-15T10:00:00+00:00,false\n"
        "site22,20,,true\n"
    )


def test_json_is_a_list_of_objects_with_iso_timestamps() -> None:
    assert format_result(COLUMNS, ROWS, "json") == (
        "[\n"
        "  {\n"
        '    "site_id": "site1",\n'
        '    "import_wh": 1500.5,\n'
        '    "interval_start": "2026-01-15T10:00:00+00:00",\n'
        '    "estimated": false\n'
        "  },\n"
        "  {\n"
        '    "site_id": "site22",\n'
        '    "import_wh": 20,\n'
        '    "interval_start": null,\n'
        '    "estimated": true\n'
        "  }\n"
        "]"
    )


def test_nested_values_and_decimals_print_as_json_numbers_and_lists() -> None:
    rows = [([{"measurand": "Voltage", "value": 230.0}], Decimal("1.50"))]
    assert format_result(["readings", "total"], rows, "table") == (
        "readings                                 total\n"
        "---------------------------------------  -----\n"
        '[{"measurand":"Voltage","value":230.0}]   1.50\n'
        "(1 row)"
    )
    assert (
        format_result(["total"], [(Decimal("1.50"),)], "json") == '[\n  {\n    "total": 1.5\n  }\n]'
    )


def test_an_empty_result_is_just_the_header() -> None:
    assert format_result(["a"], [], "table") == "a\n-\n(0 rows)"
    assert format_result(["a"], [], "csv") == "a\n"
    assert format_result(["a"], [], "json") == "[]"


def test_run_query_returns_columns_and_rows_in_utc(
    data_dir: Path, write: Callable[..., ParquetSink], sample_factory: Callable[..., Any]
) -> None:
    write([sample_factory(readings=[("Voltage", 231.0, "V", "L1-N")])])
    columns, rows = run_query(data_dir, "SELECT ts, measurand, value FROM meter_readings")
    assert columns == ["ts", "measurand", "value"]
    assert rows == [(T0, "Voltage", 231.0)]
    assert rows[0][0].utcoffset().total_seconds() == 0


def test_an_unknown_table_names_the_views(data_dir: Path) -> None:
    with pytest.raises(QueryError, match="meter_reading") as caught:
        run_query(data_dir, "SELECT * FROM meter_reading")
    assert "views: meter_samples, transactions" in str(caught.value)
    assert "meter_readings" in str(caught.value)


def test_a_syntax_error_is_a_query_error(data_dir: Path) -> None:
    with pytest.raises(QueryError, match="syntax error"):
        run_query(data_dir, "SELEC 1")


def test_the_catalog_is_opened_read_only(data_dir: Path) -> None:
    with pytest.raises(QueryError, match="read-only"):
        run_query(data_dir, "DROP VIEW meter_readings")
