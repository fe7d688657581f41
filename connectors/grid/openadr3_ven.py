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

Where the VTN offers subscriptions, the VEN also subscribes (``POST /subscriptions``:
``EVENT`` ``CREATE``/``UPDATE``/``DELETE`` to a callback URL, with a bearer token of its
own that the VTN sends back) and takes each notification as it comes
(``on_notification``, served by ``serve_callbacks``); polling goes on beside it, so a
notification lost on the way is caught at the next poll. A VTN without subscriptions
(404, 405, 501) is polled only. MQTT notifiers are not used. The VEN neither opts in nor
out (OpenADR 3 has no opt-in) and sends no reports.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import aiohttp
from aiohttp import web

from connectors.grid.openadr3 import SOURCE, event_signals
from connectors.grid.result import Parsed
from gridstream.errors import GridstreamError
from gridstream.records import Record

log = logging.getLogger(__name__)

PAGE_LIMIT: Final = 50
#: Where the VEN takes the VTN's notifications.
CALLBACK_PATH: Final = "/openadr3/notifications"
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
        self._program: Any = None
        self._callback_token: str | None = None
        self.subscription_id: str | None = None
        self.signals_published = 0
        self.rejected = 0
        self.notifications = 0

    async def poll_once(self) -> Parsed:
        """Read the program and events, publish what is new; what was read and published."""
        received_at = self._now()
        if self._config.program_id is not None:
            self._program = await self._get_json(f"/programs/{self._config.program_id}", {})
        out = Parsed()
        for event in await self._events():
            out += await self._take(event, received_at)
        return out

    async def _take(self, event: dict[str, Any], received_at: datetime) -> Parsed:
        """Publish the signals of ``event`` unless this version of it was published already."""
        key = str(event.get("id") or event.get("eventName"))
        version = event.get("modificationDateTime")
        if key in self._seen and self._seen[key] == version:
            return Parsed()
        parsed = event_signals(
            event, received_at, default_site=self._config.default_site, program=self._program
        )
        await self._publish(parsed.signals)
        letters = [r.to_dead_letter(f"{SOURCE}:{key}", received_at) for r in parsed.rejected]
        if letters:
            await self._publish(letters)
        self._seen[key] = version
        self.signals_published += len(parsed.signals)
        self.rejected += len(parsed.rejected)
        return parsed

    async def subscribe(self, callback_url: str) -> bool:
        """Ask the VTN to push event changes to ``callback_url``; False when it offers none."""
        self._callback_token = secrets.token_urlsafe(32)
        body: dict[str, Any] = {
            "clientName": self._config.client_id,
            "objectOperations": [{
                "objects": ["EVENT"],
                "operations": ["CREATE", "UPDATE", "DELETE"],
                "callbackUrl": callback_url,
                "bearerToken": self._callback_token,
            }],
        }  # fmt: skip
        if self._config.program_id is not None:
            body["programID"] = self._config.program_id
        url = self._config.vtn_url.rstrip("/") + "/subscriptions"
        headers = {"Authorization": f"Bearer {await self._bearer()}"}
        async with self._session.post(url, json=body, headers=headers) as answer:
            if answer.status in (404, 405, 501):
                log.info("OpenADR VEN: %s offers no subscriptions (HTTP %d): polling only",
                         self._config.vtn_url, answer.status)  # fmt: skip
                return False
            if answer.status not in (200, 201):
                raise VtnError(f"POST {url}: HTTP {answer.status} {await answer.text():.200}")
            created = await answer.json(content_type=None)
        self.subscription_id = str(created.get("id")) if isinstance(created, dict) else None
        log.info("OpenADR VEN: subscribed to %s's events (subscription %s), notified at %s",
                 self._config.vtn_url, self.subscription_id, callback_url)  # fmt: skip
        return True

    async def unsubscribe(self) -> None:
        """Delete the VEN's subscription, if it has one (on the way out; failures are logged)."""
        if self.subscription_id is None:
            return
        url = f"{self._config.vtn_url.rstrip('/')}/subscriptions/{self.subscription_id}"
        try:
            headers = {"Authorization": f"Bearer {await self._bearer()}"}
            async with self._session.delete(url, headers=headers) as answer:
                if answer.status not in (200, 204):
                    log.warning("OpenADR VEN: DELETE %s: HTTP %d", url, answer.status)
        except (VtnError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("OpenADR VEN: DELETE %s failed: %s", url, exc)
        self.subscription_id = None

    async def on_notification(self, body: Any, authorization: str | None) -> int:
        """Take one notification the VTN posted; the HTTP status to answer it with.

        401 without the bearer token the VEN gave in its subscription; 400 for a body that
        is no notification; otherwise 200 (an object other than an event is ignored, a
        deleted event is forgotten: its signals already published stay, as after a poll).
        """
        if self._callback_token is None or authorization != f"Bearer {self._callback_token}":
            return 401
        if not isinstance(body, dict) or not isinstance(body.get("object"), dict):
            return 400
        if body.get("objectType") != "EVENT":
            return 200
        self.notifications += 1
        event = body["object"]
        if str(body.get("operation", "")).upper() == "DELETE":
            self._seen.pop(str(event.get("id") or event.get("eventName")), None)
            return 200
        await self._take(event, self._now())
        return 200

    async def run(self, stop: asyncio.Event, callback_url: str | None = None) -> None:
        """Subscribe (with a ``callback_url``), then poll every ``poll_interval`` until ``stop``.

        A failed round is logged and tried again at the next; the subscription is deleted
        on the way out.
        """
        wants_subscription = callback_url is not None
        while not stop.is_set():
            try:
                if wants_subscription and callback_url is not None:
                    await self.subscribe(callback_url)
                    wants_subscription = False  # subscribed, or the VTN offers none
                await self.poll_once()
            except (VtnError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("OpenADR VEN: poll of %s failed: %s", self._config.vtn_url, exc)
            try:
                await asyncio.wait_for(stop.wait(), self._config.poll_interval.total_seconds())
            except TimeoutError:
                pass
        await self.unsubscribe()

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


async def serve_callbacks(host: str, port: int, ven: OpenAdrVen) -> web.AppRunner:
    """Serve ``POST /openadr3/notifications`` for ``ven`` on ``host:port``; the runner to stop."""

    async def notification(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        status = await ven.on_notification(body, request.headers.get("Authorization"))
        return web.Response(status=status)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(CALLBACK_PATH, notification)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
