"""P1 telegrams: a feed of several, bad CRCs and text that is no telegram."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.grid import parse_as
from connectors.grid.p1 import parse_telegrams
from gridstream.errors import ConfigError
from gridstream.signals_import import parse_files

ROOT = Path(__file__).parents[4]
TELEGRAM = (ROOT / "tests/fixtures/grid/meter/fluvius_p1_emucs171.telegram.txt").read_bytes()
RECEIVED = datetime(2020, 5, 12, 11, 54, 10, tzinfo=UTC)


def test_a_feed_of_telegrams_gives_the_signals_of_each() -> None:
    parsed = parse_telegrams(TELEGRAM + TELEGRAM, RECEIVED, "SITE-1")
    assert len(parsed.signals) == 2 * 5 and parsed.rejected == ()


def test_a_telegram_with_a_wrong_crc_is_rejected_and_the_next_one_still_counts() -> None:
    corrupt = TELEGRAM.replace(b"02.351", b"02.352")
    parsed = parse_telegrams(corrupt + TELEGRAM, RECEIVED, "SITE-1")
    assert len(parsed.signals) == 5
    (rejection,) = parsed.rejected
    assert rejection.reason == "malformed_document"
    assert "CRC" in rejection.detail


def test_text_that_is_no_telegram_is_one_rejection() -> None:
    parsed = parse_telegrams(b"hello", RECEIVED, "SITE-1")
    assert [r.reason for r in parsed.rejected] == ["malformed_document"]


def test_a_telegram_without_its_site_is_refused() -> None:
    assert [r.reason for r in parse_as("p1", TELEGRAM, RECEIVED).rejected] == ["malformed_document"]
    with pytest.raises(ConfigError, match="meter.txt name no site .*--site"):
        parse_files([("meter.txt", TELEGRAM)], None, RECEIVED)
    signals, letters, _ = parse_files([("meter.txt", TELEGRAM)], None, RECEIVED, "SITE-1")
    assert (len(signals), letters) == (5, [])
