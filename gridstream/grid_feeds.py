"""The grid feeds ``gridstream run`` starts beside the OCPP connector (wiring only).

The OpenADR 3 VEN (``GRIDSTREAM_OPENADR_*``), the generic grid-signals HTTP endpoint
(``GRIDSTREAM_SIGNALS_HTTP_*``), the UFTP aggregator (``GRIDSTREAM_UFTP_*``) and the TOMP
bookings poller (``GRIDSTREAM_TOMP_*``, charging needs of shared cars), each started only
when configured, each publishing through
the connector's spool like the OCPP connector does, each stopped by the run's exit stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

import aiohttp

from connectors.grid.http_endpoint import serve_signals_http
from connectors.grid.openadr3_ven import CALLBACK_PATH, OpenAdrVen, VenConfig, serve_callbacks
from connectors.grid.uftp_agr import (
    AgrConfig,
    AreaOffers,
    UftpAgr,
    follow_area_offers,
    load_participants,
    read_signing_key,
)
from connectors.tomp.bookings import load_fleet
from connectors.tomp.client import TompConfig, TompPoller
from gridstream.errors import ConfigError
from gridstream.records import Record
from gridstream.settings import Settings
from gridstream.tasks import start_loop

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[Record]], Awaitable[None]]


def openadr_ven_config(settings: Settings) -> VenConfig | None:
    """The VEN's configuration from ``GRIDSTREAM_OPENADR_*``; None when no VTN is set."""
    if settings.openadr_vtn_url is None:
        return None
    if settings.openadr_client_id is None or settings.openadr_client_secret is None:
        raise ConfigError(
            "GRIDSTREAM_OPENADR_VTN_URL is set: set GRIDSTREAM_OPENADR_CLIENT_ID and "
            "GRIDSTREAM_OPENADR_CLIENT_SECRET too (OAuth2 client credentials)"
        )
    return VenConfig(
        vtn_url=settings.openadr_vtn_url,
        client_id=settings.openadr_client_id,
        client_secret=settings.openadr_client_secret.get_secret_value(),
        token_url=settings.openadr_token_url,
        program_id=settings.openadr_program_id,
        default_site=settings.openadr_site_id,
        poll_interval=timedelta(seconds=settings.openadr_poll_interval_s),
    )


async def start_openadr_ven(
    settings: Settings,
    publish: Publish,
    parts: contextlib.AsyncExitStack,
    now: Callable[[], datetime],
) -> None:
    """Start the OpenADR 3 VEN when a VTN is configured; ``parts`` stops it."""
    config = openadr_ven_config(settings)
    if config is None:
        return
    session = aiohttp.ClientSession()
    parts.push_async_callback(session.close)
    ven = OpenAdrVen(config, session, publish, now)
    callback_url = None
    if settings.openadr_callback_port is not None:
        # The notification endpoint listens first, so that the URL the VTN gets answers.
        runner = await serve_callbacks(
            settings.openadr_callback_host, settings.openadr_callback_port, ven
        )
        parts.push_async_callback(runner.cleanup)
        callback_url = settings.openadr_callback_url or (
            f"http://{settings.openadr_callback_host}:{runner.addresses[0][1]}{CALLBACK_PATH}"
        )
    start_loop(parts, "openadr-ven", partial(ven.run, callback_url=callback_url))
    log.info(
        "OpenADR 3 VEN polling %s every %.0f s%s",
        config.vtn_url,
        settings.openadr_poll_interval_s,
        f"; notifications at {callback_url}" if callback_url else "",
    )


async def start_signals_endpoint(
    settings: Settings,
    publish: Publish,
    parts: contextlib.AsyncExitStack,
    now: Callable[[], datetime],
) -> None:
    """Start the grid-signals HTTP endpoint when a port is configured; ``parts`` stops it."""
    if settings.signals_http_port is None:
        return
    token = settings.signals_http_token
    if token is None:
        log.warning("grid-signals endpoint without GRIDSTREAM_SIGNALS_HTTP_TOKEN: anyone who "
                    "can reach the port may post signals")  # fmt: skip
    try:
        endpoint = await serve_signals_http(
            settings.signals_http_host,
            settings.signals_http_port,
            publish=publish,
            now=now,
            token=token.get_secret_value() if token is not None else None,
        )
    except OSError as exc:
        raise ConfigError(
            f"the grid-signals endpoint cannot listen on {settings.signals_http_host}:"
            f"{settings.signals_http_port} ({exc.strerror}); set GRIDSTREAM_SIGNALS_HTTP_PORT "
            "to a free port (0 picks one)"
        ) from None
    parts.push_async_callback(endpoint.close)
    log.info("grid-signals endpoint: POST http://%s:%d/signals", settings.signals_http_host,
             endpoint.port)  # fmt: skip


def uftp_agr_config(settings: Settings) -> AgrConfig | None:
    """The UFTP aggregator's configuration from ``GRIDSTREAM_UFTP_*``; None when no port."""
    if settings.uftp_port is None:
        return None
    missing = [name for name, value in (
        ("GRIDSTREAM_UFTP_DOMAIN", settings.uftp_domain),
        ("GRIDSTREAM_UFTP_SIGNING_KEY_FILE", settings.uftp_signing_key_file),
        ("GRIDSTREAM_UFTP_PARTICIPANTS_FILE", settings.uftp_participants_file),
    ) if value is None]  # fmt: skip
    if missing or settings.uftp_domain is None:
        raise ConfigError(f"GRIDSTREAM_UFTP_PORT is set: set {' and '.join(missing)} too")
    assert settings.uftp_signing_key_file is not None
    assert settings.uftp_participants_file is not None
    return AgrConfig(
        domain=settings.uftp_domain,
        signing_key=read_signing_key(settings.uftp_signing_key_file),
        participants=load_participants(settings.uftp_participants_file),
        price_per_mwh=settings.uftp_offer_price_per_mwh,
        currency=settings.uftp_currency,
        host=settings.uftp_host,
        port=settings.uftp_port,
    )


async def start_uftp_agr(
    settings: Settings,
    bootstrap: str,
    publish: Publish,
    parts: contextlib.AsyncExitStack,
    now: Callable[[], datetime],
) -> UftpAgr | None:
    """Start the UFTP aggregator endpoint and its ``flex.offers`` feed when configured."""
    config = uftp_agr_config(settings)
    if config is None:
        return None
    offers = AreaOffers()
    start_loop(parts, "uftp-offers", partial(follow_area_offers, bootstrap, offers))
    agr = UftpAgr(config, offers, publish, asyncio.get_running_loop(), now)
    # The library serves from a thread of its own; starting it waits for the socket.
    await asyncio.to_thread(agr.run_in_thread)
    parts.push_async_callback(asyncio.to_thread, agr.stop)
    log.info("UFTP aggregator %s: POST http://%s:%d%s", config.domain, config.host, agr.port,
             config.path)  # fmt: skip
    return agr


def tomp_config(settings: Settings) -> TompConfig | None:
    """The TOMP poller's configuration from ``GRIDSTREAM_TOMP_*``; None when no URL is set."""
    if settings.tomp_url is None:
        return None
    if settings.tomp_fleet_file is None:
        raise ConfigError(
            "GRIDSTREAM_TOMP_URL is set: set GRIDSTREAM_TOMP_FLEET_FILE too (which cars charge "
            "where)"
        )
    token = settings.tomp_token
    return TompConfig(
        url=settings.tomp_url,
        maas_id=settings.tomp_maas_id,
        token=token.get_secret_value() if token is not None else None,
        fleet=load_fleet(settings.tomp_fleet_file),
        wh_per_km=settings.tomp_wh_per_km,
        reserve=settings.tomp_reserve,
        poll_interval=timedelta(seconds=settings.tomp_poll_interval_s),
    )


async def start_tomp_poller(
    settings: Settings,
    publish: Publish,
    site_of: Callable[[str], str],
    parts: contextlib.AsyncExitStack,
    now: Callable[[], datetime],
) -> None:
    """Start polling the TO's bookings when a TOMP-API is configured; ``parts`` stops it."""
    config = tomp_config(settings)
    if config is None:
        return
    session = aiohttp.ClientSession()
    parts.push_async_callback(session.close)
    poller = TompPoller(config, session, publish, site_of, now)
    start_loop(parts, "tomp-poller", poller.run)
    log.info("TOMP: polling %s for %d cars every %.0f s", config.url, len(config.fleet),
             settings.tomp_poll_interval_s)  # fmt: skip
