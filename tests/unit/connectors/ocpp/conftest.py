"""Factories for OCPP connector unit tests: call contexts and one-call runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.ocpp import Accepted, CallContext, CallFrame, Rejected, StationState, handle_call


@pytest.fixture
def now() -> datetime:
    """The fixed receive time of every call."""
    return datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)


@pytest.fixture
def id_token_key() -> bytes:
    """The id-token hash key."""
    return b"unit-test-id-token-key"


@pytest.fixture
def make_ctx(now: datetime, id_token_key: bytes) -> Callable[..., CallContext]:
    """Build a CallContext; station CS-1 on site SITE-1 unless told otherwise."""

    def make(
        source: str = "ocpp1.6",
        message_id: str = "m-1",
        station: StationState | None = None,
    ) -> CallContext:
        return CallContext(
            station_id="CS-1",
            site_id="SITE-1",
            message_id=message_id,
            now=now,
            source=source,  # type: ignore[arg-type]
            id_token_key=id_token_key,
            station=station if station is not None else StationState(),
        )

    return make


@pytest.fixture
def run_call(make_ctx: Callable[..., CallContext]) -> Callable[..., Accepted | Rejected]:
    """Handle one CALL (action, payload) the way the server does, return the result."""

    def run(
        action: str,
        payload: dict[str, Any],
        source: str = "ocpp1.6",
        message_id: str = "m-1",
        station: StationState | None = None,
    ) -> Accepted | Rejected:
        raw = json.dumps([2, message_id, action, payload])
        ctx = make_ctx(source, message_id, station)
        return handle_call(CallFrame(message_id, action, payload, raw), ctx)

    return run
