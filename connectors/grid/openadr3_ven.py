"""An OpenADR 3 VEN that polls a VTN for events and publishes them as grid signals.

The thin shell around ``connectors.grid.openadr3`` (STYLE.md rule 12): it is handed its HTTP
session, its publish and dead-letter coroutines and its clock. Each poll

1. gets a bearer token with OAuth2 client credentials (``POST <token_url>`` with
   ``grant_type=client_credentials``, ``client_id``, ``client_secret``; RFC 6749 4.4),
   kept until shortly before it expires;
2. reads the program (for its payload descriptors, when ``program_id`` is set) and every
   event, ``GET /events?programID=..&skip=..&limit=50`` page by page (50 is the spec's
   maximum);
3. turns each event it has not published in that version (id and ``modificationDateTime``)
   into signals, publishes them, and sends what it could not map to the dead-letter topic.

Polling only: subscriptions (webhooks, MQTT) are not done yet. The VEN neither opts in nor
out (OpenADR 3 has no opt-in) and sends no reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import aiohttp

from connectors.grid.openadr3 import SOURCE, event_signals
from connectors.grid.result import Parsed
from gridstream.errors import GridstreamError
from gridstream.records import DeadLetter, Record

log = logging.getLogger(__name__)

PAGE_LIMIT: Final = 50
#: A token is renewed this long before the VTN said it expires.
TOKEN_MARGIN: Final = timedelta(seconds=30)

Publish = Callable[[Sequence[Record]], Awaitable[None]]
"""Sends records to their topics and returns once the broker acknowledged them."""


class VtnError(GridstreamError):
    """The VTN could not be reached, refused the credentials, or answered nonsense."""


@dataclass(frozen=True)
class VenConfig:
    """Where the VTN is and who this VEN is.

    ``default_site`` is the site of events that target none (a VEN per grid connection).
    """

    vtn_url: str
    client_id: str
    client_secret: str
    token_url: str | None = None
    program_id: str | None = None
    default_site: str | None = None
    poll_interval: timedelta = timedelta(seconds=60)


class OpenAdrVen:
    """Polls one VTN; ``poll_once`` for one round, ``run`` until stopped."""

    def __init__(
        self,
        config: VenConfig,
        session: aiohttp.ClientSession,
        publish: Publish,
        now: Callable[[], datetime],
    ) -> None:
        """A VEN for ``config`` using ``session``; records go to ``publish``."""
        self._config = config
        self._session = session
        self._publish = publish
        self._now = now
        self._token: str | None = None
        self._token_until: datetime | None = None
        self._seen: dict[str, Any] = {}
        self.signals_published = 0
        self.rejected = 0

    async def poll_once(self) -> Parsed:
        """Read the program and events, publish what is new; what was read and published."""
        received_at = self._now()
        program = None
        if self._config.program_id is not None:
            program = await self._get_json(f"/programs/{self._config.program_id}", {})
        out = Parsed()
        letters: list[DeadLetter] = []
        for event in await self._events():
            key = str(event.get("id") or event.get("eventName"))
            version = event.get("modificationDateTime")
            if key in self._seen and self._seen[key] == version:
                continue  # published in this version already
            parsed = event_signals(
                event, received_at, default_site=self._config.default_site, program=program
            )
            letters.extend(
                r.to_dead_letter(f"{SOURCE}:{key}", received_at) for r in parsed.rejected
            )
            await self._publish(parsed.signals)
            self._seen[key] = version
            out += parsed
        if letters:
            await self._publish(letters)
        self.signals_published += len(out.signals)
        self.rejected += len(out.rejected)
        return out

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every ``poll_interval`` until ``stop``; a failed poll is logged and retried."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except (VtnError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("OpenADR VEN: poll of %s failed: %s", self._config.vtn_url, exc)
            try:
                await asyncio.wait_for(stop.wait(), self._config.poll_interval.total_seconds())
            except TimeoutError:
                pass

    async def _events(self) -> list[dict[str, Any]]:
        params: dict[str, str] = {"limit": str(PAGE_LIMIT)}
        if self._config.program_id is not None:
            params["programID"] = self._config.program_id
        events: list[dict[str, Any]] = []
        skip = 0
        while True:
            page = await self._get_json("/events", {**params, "skip": str(skip)})
            if not isinstance(page, list):
                raise VtnError(f"{self._config.vtn_url}/events: expected a list, got {page!r:.80}")
            events.extend(e for e in page if isinstance(e, dict))
            if len(page) < PAGE_LIMIT:
                return events
            skip += len(page)

    async def _get_json(self, path: str, params: dict[str, str]) -> Any:
        url = self._config.vtn_url.rstrip("/") + path
        headers = {"Authorization": f"Bearer {await self._bearer()}"}
        async with self._session.get(url, params=params, headers=headers) as answer:
            if answer.status == 401:
                self._token = None  # expired early or revoked: a new one next time
            if answer.status != 200:
                raise VtnError(f"GET {url}: HTTP {answer.status} {await answer.text():.200}")
            return await answer.json(content_type=None)

    async def _bearer(self) -> str:
        now = self._now()
        if self._token is not None and self._token_until is not None and now < self._token_until:
            return self._token
        url = self._config.token_url or self._config.vtn_url.rstrip("/") + "/auth/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self._config.client_id,
            "client_secret": self._config.client_secret,
        }
        async with self._session.post(url, data=form) as answer:
            if answer.status != 200:
                raise VtnError(
                    f"POST {url}: HTTP {answer.status}: the VTN refused client "
                    f"{self._config.client_id!r}; check the client id and secret"
                )
            body = await answer.json(content_type=None)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise VtnError(f"POST {url}: no access_token in the answer")
        expires_s = body.get("expires_in")
        lifetime = timedelta(seconds=float(expires_s)) if expires_s else timedelta(hours=1)
        self._token, self._token_until = token, now + lifetime - TOKEN_MARGIN
        return token
