"""Imports point inwards (DESIGN.md, Layout): the folder layout is the architecture.

connectors, streams and warehouse import gridstream; warehouse may import the plain
computations of streams; the shared parts of gridstream import none of them (only the
command line and the code that starts `gridstream run` wire everything together); a
connector never needs Faust, and a computation never needs Kafka, Faust or DuckDB.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
WIRING = {
    "gridstream/cli.py",
    "gridstream/pipeline.py",
    "gridstream/parts.py",
    "gridstream/serve.py",
    "gridstream/signals_import.py",
    "gridstream/backfill_import.py",
    "gridstream/grid_feeds.py",
    "gridstream/status.py",  # reads the warehouse's files and the spool's, like the CLI
}

# package -> top-level modules it must not import
FORBIDDEN: dict[str, set[str]] = {
    "gridstream": {
        "connectors",
        "streams",
        "warehouse",
        "simulator",
        "dashboard",
        "faust",
        "duckdb",
    },  # fmt: skip
    "connectors": {"streams", "warehouse", "simulator", "faust", "duckdb"},
    "streams": {"connectors", "warehouse", "simulator", "duckdb"},
    "streams/compute": {
        "connectors",
        "warehouse",
        "simulator",
        "faust",
        "mode",
        "kafka",
        "aiokafka",
        "duckdb",
        "pyarrow",
    },  # fmt: skip
    "warehouse": {"connectors", "simulator", "faust"},
    "simulator": {"connectors", "streams", "warehouse", "faust", "duckdb"},
    # The dashboard shows the stream's records and reuses its pure computations.
    "dashboard": {"connectors", "warehouse", "simulator", "faust", "duckdb"},
}


def imported_top_levels(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def cases() -> list[tuple[str, Path]]:
    out = []
    for package in FORBIDDEN:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in WIRING:
                out.append((package, path))
    return out


@pytest.mark.parametrize(("package", "path"), cases(), ids=lambda c: str(c))
def test_module_imports_point_inwards(package: str, path: Path) -> None:
    wrong = imported_top_levels(path) & FORBIDDEN[package]
    assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_warehouse_uses_only_the_plain_computations_of_streams() -> None:
    for path in (ROOT / "warehouse").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("streams"):
                assert (node.module or "").startswith("streams.compute"), path
