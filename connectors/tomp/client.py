"""Polls a transport operator's TOMP-API for bookings and publishes the fleet's charging needs.

The thin shell around ``connectors.tomp.bookings``: every poll asks ``GET /bookings`` for
the standing bookings that overlap the next ``horizon`` (TOMP 1.x query ``state``,
``min-time``, ``max-time``; headers ``Accept-Language``, ``Api``, ``Api-Version``,
``maas-id`` and a bearer token), one request per standing state, and publishes each car's
needs when they changed since the last poll. What it cannot read goes to the dead-letter
topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from connectors.tomp.bookings import STANDING, FleetCar, fleet_needs
from gridstream.errors import GridstreamError
from gridstream.records import EVChargingNeeds, Record

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[Record]], Awaitable[None]]
SOURCE = "tomp"


class TompError(GridstreamError):
    """The transport operator could not be reached, refused us, or answered nonsense."""


@dataclass(frozen=True)
class TompConfig:
    """Where the TO's TOMP-API is, who we are to it, and how we turn trips into energy."""

    url: str
    maas_id: str
    token: str | None
    fleet: dict[str, FleetCar]
    wh_per_km: float = 180.0
    reserve: float = 0.2
    horizon: timedelta = timedelta(hours=48)
    poll_interval: timedelta = timedelta(minutes=5)
    api_version: str = "1.6.1"


class TompPoller:
    """Polls ``GET /bookings`` and publishes what changed (module docstring)."""

    def __init__(
        self,
        config: TompConfig,
        http: aiohttp.ClientSession,
        publish: Publish,
        site_of: Callable[[str], str],
        now: Callable[[], datetime],
    ) -> None:
        self.config = config
        self._http = http
        self._publish = publish
        self._site_of = site_of
        self._now = now
        self._published: dict[tuple[str, int], tuple[datetime | None, float | None]] = {}

    async def poll_once(self) -> list[EVChargingNeeds]:
        """One poll: the needs published (those that changed since the last poll)."""
        now = self._now()
        bookings: list[dict[str, Any]] = []
        for state in sorted(STANDING):
            bookings += await self._bookings(state, now)
        needs, rejected = fleet_needs(
            bookings,
            self.config.fleet,
            site_of=self._site_of,
            wh_per_km=self.config.wh_per_km,
            reserve=self.config.reserve,
            received_at=now,
        )
        changed = [n for n in needs if self._published.get(_key(n)) != _what(n)]
        records: list[Record] = [*changed]
        records += [r.to_dead_letter(SOURCE, now) for r in rejected]
        if records:
            await self._publish(records)
        for n in changed:
            self._published[_key(n)] = _what(n)
        return changed

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every ``poll_interval`` until ``stop``; a failed poll is logged and retried."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except TompError as exc:
                log.warning("TOMP poll of %s failed: %s", self.config.url, exc)
            try:
                await asyncio.wait_for(stop.wait(), self.config.poll_interval.total_seconds())
            except TimeoutError:
                pass

    async def _bookings(self, state: str, now: datetime) -> list[dict[str, Any]]:
        headers = {"Accept-Language": "en", "Api": "TOMP", "Api-Version": self.config.api_version,
                   "maas-id": self.config.maas_id}  # fmt: skip
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        params = {"state": state, "min-time": now.isoformat(),
                  "max-time": (now + self.config.horizon).isoformat()}  # fmt: skip
        url = self.config.url.rstrip("/") + "/bookings"
        try:
            async with self._http.get(url, params=params, headers=headers) as answer:
                if answer.status != 200:
                    raise TompError(
                        f"GET {url}: HTTP {answer.status}: {(await answer.text())[:200]}"
                    )
                body = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TompError(f"GET {url}: {exc}") from None
        if not isinstance(body, list):
            raise TompError(f"GET {url}: expected a list of bookings, got {type(body).__name__}")
        return [b for b in body if isinstance(b, dict)]


def _key(needs: EVChargingNeeds) -> tuple[str, int]:
    return needs.station_id, needs.evse_id


def _what(needs: EVChargingNeeds) -> tuple[datetime | None, float | None]:
    return needs.departure_time, needs.target_energy_wh
