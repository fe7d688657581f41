"""The generic signals endpoint over real HTTP on 127.0.0.1, with an in-memory broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors.grid.http_endpoint import SignalsEndpoint, serve_signals_http
from gridstream.records import DeadLetter, GridSignal, Record

ROOT = Path(__file__).parents[4]
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CSV = (ROOT / "examples" / "capacity_limits.csv").read_bytes()


class FakeBroker:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.fail = False

    async def publish(self, records: Sequence[Record]) -> None:
        if self.fail:
            raise ConnectionError("broker unavailable")
        self.records.extend(records)


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
async def endpoint(broker: FakeBroker) -> AsyncIterator[SignalsEndpoint]:
    served = await serve_signals_http("127.0.0.1", 0, publish=broker.publish, now=lambda: NOW,
                                      token="dso-token")  # fmt: skip
    try:
        yield served
    finally:
        await served.close()


async def post(endpoint: SignalsEndpoint, body: bytes, query: str = "",
               token: str = "dso-token") -> tuple[int, Any]:  # fmt: skip
    url = f"http://127.0.0.1:{endpoint.port}/signals{query}"
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers={"Authorization": f"Bearer {token}"}) as answer,
    ):
        return answer.status, await answer.json()


async def test_a_csv_of_limits_is_published_before_the_answer(
    endpoint: SignalsEndpoint, broker: FakeBroker
) -> None:
    status, body = await post(endpoint, CSV)
    assert (status, body) == (200, {"accepted": 3, "rejected": []})
    assert [type(r) for r in broker.records] == [GridSignal] * 3
    assert endpoint.accepted == 3


async def test_a_document_with_nothing_usable_gets_its_reasons_http_status(
    endpoint: SignalsEndpoint, broker: FakeBroker
) -> None:
    status, body = await post(endpoint, b"<Publication_MarketDocument><mRID>x</mRID>",
                              "?format=entsoe")  # fmt: skip
    assert status == 400  # malformed_document
    assert [r["reason"] for r in body["rejected"]] == ["malformed_document"]
    (letter,) = broker.records  # kept, raw, with its reason
    assert isinstance(letter, DeadLetter)
    assert (letter.source, letter.reason) == ("http:entsoe", "malformed_document")

    status, body = await post(endpoint, b"hello")
    assert (status, body["rejected"][0]["reason"]) == (415, "unknown_format")
    status, body = await post(endpoint, b"x", "?format=pdf")
    assert (status, body["rejected"][0]["reason"]) == (415, "unknown_format")


async def test_a_partly_bad_csv_is_accepted_with_its_bad_rows_listed(
    endpoint: SignalsEndpoint, broker: FakeBroker
) -> None:
    bad_row = b"import_capacity_limit,site,X,2026-01-15T18:00:00+01:00,P1M,1,W,fluvius\n"
    status, body = await post(endpoint, CSV + bad_row)
    assert status == 200
    assert body["accepted"] == 3
    assert [r["reason"] for r in body["rejected"]] == ["bad_resolution"]


async def test_without_the_token_nothing_is_read(
    endpoint: SignalsEndpoint, broker: FakeBroker
) -> None:
    status, _ = await post(endpoint, CSV, token="guess")
    assert status == 401
    assert broker.records == []


async def test_a_broker_that_does_not_acknowledge_is_a_503_to_retry(
    endpoint: SignalsEndpoint, broker: FakeBroker
) -> None:
    broker.fail = True
    status, body = await post(endpoint, CSV)
    assert (status, body["accepted"]) == (503, 0)
    assert body["rejected"][0]["reason"] == "broker_unavailable"
