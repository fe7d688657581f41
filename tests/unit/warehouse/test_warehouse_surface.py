"""What warehouse exports is what the command line wires; docstring examples run."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import warehouse
from warehouse import catalog, layout, query, schemas, sink


def test_public_surface_is_pinned() -> None:
    assert sorted(warehouse.__all__) == [
        "DecodeError",
        "Difference",
        "ParquetSink",
        "QueryError",
        "Rejection",
        "SinkStats",
        "SiteSummary",
        "WarehouseError",
        "compare",
        "format_result",
        "format_site_summary",
        "make_sink_consumer",
        "open_catalog",
        "quarter_hour_load",
        "read_samples",
        "recent_records",
        "records_to_table",
        "refresh_views",
        "run_query",
        "run_sink",
        "seek_to_resume",
        "site_summary",
        "stream_quarter_hours",
        "topic_schema",
        "view_names",
    ]
    assert all(hasattr(warehouse, name) for name in warehouse.__all__)


@pytest.mark.parametrize("module", [schemas, layout, catalog, query, sink])
def test_docstring_examples_run(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0
