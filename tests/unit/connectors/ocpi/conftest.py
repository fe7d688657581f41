"""A receiver with in-memory publish and dead-letter sinks, and a provisioned partner."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.ocpi import OcpiReceiver, PartnerStore, PartyRef
from gridstream.records import DeadLetter, Record

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@dataclass
class Harness:
    client: httpx.AsyncClient
    receiver: OcpiReceiver
    token_a: str
    published: list[Record] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    fail_publish: list[bool] = field(default_factory=lambda: [False])

    def header(self, token: str) -> dict[str, str]:
        return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}

    async def register(self) -> str:
        """Register as BE*BEC with token A; return token C."""
        creds = {
            "token": "token-b",
            "url": "http://partner.test/ocpi/versions",
            "roles": [{"role": "CPO", "country_code": "BE", "party_id": "BEC",
                       "business_details": {"name": "Test CPO"}}],
        }  # fmt: skip
        answer = await self.client.post(
            "/ocpi/2.2.1/credentials", json=creds, headers=self.header(self.token_a)
        )
        assert answer.status_code == 200, answer.text
        token_c: str = answer.json()["data"]["token"]
        return token_c


@pytest.fixture
def harness_factory(tmp_path: Path) -> Callable[..., Harness]:
    def make(peer_versions: Sequence[Mapping[str, Any]] | None = None) -> Harness:
        store = PartnerStore(tmp_path / "partners.json")
        token_a = store.add(PartyRef("BE", "BEC"), "CPO")
        published: list[Record] = []
        dead: list[DeadLetter] = []
        fail = [False]

        async def publish(records: Sequence[Record]) -> None:
            if fail[0]:
                raise ConnectionError("broker away")
            published.extend(records)

        async def dead_letter(letter: DeadLetter) -> None:
            dead.append(letter)

        async def peer(url: str, token_b: str) -> Sequence[Mapping[str, Any]]:
            assert token_b == "token-b"
            return peer_versions or [{"version": "2.2.1", "url": "http://partner.test/2.2.1"}]

        receiver = OcpiReceiver(
            publish=publish,
            dead_letter=dead_letter,
            partners=store,
            site_of=lambda station: station,
            now=lambda: NOW,
            peer=peer,
            own_party=PartyRef("NL", "GRS"),
            id_token_key=b"k",
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=receiver.app()), base_url="http://127.0.0.1:9001"
        )
        return Harness(client, receiver, token_a, published, dead, fail)

    return make


@pytest.fixture
def harness(harness_factory: Callable[..., Harness]) -> Harness:
    return harness_factory()
