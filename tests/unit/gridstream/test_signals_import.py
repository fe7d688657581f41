"""`gridstream signals import` before the broker: files to signals and dead letters."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridstream.errors import ConfigError
from gridstream.signals_import import parse_files, read_files

ROOT = Path(__file__).parents[3]
RECEIVED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_formats_are_detected_per_file_and_an_unknown_one_is_a_dead_letter() -> None:
    files = [
        ("BE.xml", (ROOT / "tests/fixtures/grid/entsoe/A44_BE_2024-10-08_PT60M.xml").read_bytes()),
        ("limits.csv", (ROOT / "examples/capacity_limits.csv").read_bytes()),
        ("notes.txt", b"call the DSO"),
    ]
    signals, letters, formats = parse_files(files, None, RECEIVED)
    assert formats == Counter({"entsoe": 1, "csv": 1})
    assert len(signals) == 24 + 3  # 24 hourly prices, 3 CSV rows
    (letter,) = letters
    assert (letter.reason, letter.source, letter.raw) == (
        "unknown_format", "file:notes.txt", "call the DSO")  # fmt: skip
    assert letter.received_at == RECEIVED


def test_a_given_format_is_not_second_guessed() -> None:
    signals, letters, formats = parse_files([("x.csv", b"<Publication_MarketDocument/>")],
                                            "csv", RECEIVED)  # fmt: skip
    assert (signals, formats) == ([], Counter({"csv": 1}))
    assert [(d.reason, d.source) for d in letters] == [("malformed_document", "csv:x.csv")]


def test_a_file_that_cannot_be_read_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read .*missing.xml"):
        read_files([tmp_path / "missing.xml"])
