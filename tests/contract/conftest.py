"""Contract tests: the OCPP connector against real payloads in tests/fixtures/ocpp."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.ocpp import (
    Accepted,
    CallContext,
    CallFrame,
    Rejected,
    StationState,
    handle_call,
    parse_frame,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ocpp"


@pytest.fixture
def load_fixture() -> Callable[[str], Any]:
    """Parsed JSON of one file in tests/fixtures/ocpp."""
    return lambda name: json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def now() -> datetime:
    """The fixed receive time of every call."""
    return datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)


@pytest.fixture
def id_token_key() -> bytes:
    """The id-token hash key."""
    return b"contract-test-id-token-key"


@pytest.fixture
def run_frame(now: datetime, id_token_key: bytes) -> Callable[..., Accepted | Rejected]:
    """Send one CALL frame (a JSON value) through parse_frame and handle_call."""

    def run(frame: list[Any], source: str, station: StationState) -> Accepted | Rejected:
        parsed = parse_frame(json.dumps(frame), source)  # type: ignore[arg-type]
        assert isinstance(parsed, CallFrame), parsed
        ctx = CallContext(
            station_id="CS-1",
            site_id="SITE-1",
            message_id=parsed.message_id,
            now=now,
            source=source,  # type: ignore[arg-type]
            id_token_key=id_token_key,
            station=station,
        )
        return handle_call(parsed, ctx)

    return run
