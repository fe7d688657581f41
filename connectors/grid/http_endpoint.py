"""A generic HTTP endpoint for grid documents: whatever a DSO or aggregator pushes.

``POST /signals`` with a document in the body (any format ``gridstream signals import``
reads; ``?format=`` to say which, else detected; ``?site=`` for documents that name no
site). The signals are published (acks=all) before the answer, what cannot be read goes to
the dead-letter topic with its reason. Answers (JSON):

- 200 ``{"accepted": n, "rejected": [{"reason", "detail"}, ...]}`` when anything was
  accepted (the rejected parts, if any, are listed);
- the reason's HTTP status of the one catalogue (``gridstream.errors``: 400
  ``malformed_document``, 415 ``unknown_format``, 422 ``bad_value``, ...) when nothing was,
  with the same body;
- 401 without the bearer token, when one is configured; 503 ``broker_unavailable`` when
  the broker did not acknowledge (nothing was accepted: send it again).

The shell is handed its publish coroutine and clock (STYLE.md rule 12).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast, get_args

from aiohttp import web

from connectors.grid.formats import NEEDS_SITE, Format, detect_format, parse_as
from connectors.grid.result import Rejected
from gridstream.errors import reason
from gridstream.records import GridSignal, Record

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[Record]], Awaitable[None]]
"""Sends records to their topics and returns once the broker acknowledged them."""

MAX_BODY_BYTES: Final = 16 << 20
SOURCE: Final = "http"


@dataclass
class SignalsEndpoint:
    """The running endpoint: its port and what it has done."""

    runner: web.AppRunner
    port: int
    accepted: int = 0
    rejected: int = 0

    async def close(self) -> None:
        """Stop listening and finish the requests in flight."""
        await self.runner.cleanup()


async def serve_signals_http(
    host: str,
    port: int,
    *,
    publish: Publish,
    now: Callable[[], datetime],
    token: str | None = None,
) -> SignalsEndpoint:
    """Listen on ``host:port`` (0: a free port) for ``POST /signals``."""
    endpoint: SignalsEndpoint | None = None

    async def post_signals(request: web.Request) -> web.Response:
        assert endpoint is not None
        if token is not None and not hmac.compare_digest(
            request.headers.get("Authorization", ""), f"Bearer {token}"
        ):
            return web.json_response({"error": "a bearer token is required"}, status=401)
        received_at = now()
        data = await request.read()
        name = request.query.get("name", "body")
        fmt_text = request.query.get("format")
        if fmt_text is not None and fmt_text not in get_args(Format):
            return _answer(0, [Rejected("unknown_format", f"format {fmt_text!r}; known: "
                                        f"{', '.join(get_args(Format))}", "")])  # fmt: skip
        fmt = cast(Format | None, fmt_text) or detect_format(name, data)
        site = request.query.get("site")
        signals: Sequence[GridSignal] = ()
        if fmt is None:
            parts = [Rejected("unknown_format", "not a format gridstream detects; pass ?format=",
                              data.decode("utf-8", errors="replace"))]  # fmt: skip
        elif fmt in NEEDS_SITE and not site:
            parts = [Rejected("malformed_document", f"a {fmt} document names no site: pass "
                              "?site=", data.decode("utf-8", errors="replace"))]  # fmt: skip
        else:
            parsed = parse_as(fmt, data, received_at, site)
            parts, signals = list(parsed.rejected), parsed.signals
        source = f"{SOURCE}:{fmt or 'unknown'}"
        letters = [r.to_dead_letter(source, received_at) for r in parts]
        try:
            await publish([*signals, *letters])
        except Exception as exc:  # the broker's or the spool's error, whatever its class
            log.exception("signals endpoint: the records were not acknowledged")
            return _answer(0, [Rejected("broker_unavailable", str(exc), "")])
        endpoint.accepted += len(signals)
        endpoint.rejected += len(parts)
        return _answer(len(signals), parts)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/signals", post_signals)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    endpoint = SignalsEndpoint(runner, runner.addresses[0][1])
    return endpoint


def _answer(accepted: int, parts: Sequence[Rejected]) -> web.Response:
    body = {
        "accepted": accepted,
        "rejected": [{"reason": r.reason, "detail": r.detail} for r in parts],
    }
    status = 200 if accepted or not parts else reason(parts[0].reason).http_status
    return web.json_response(body, status=status)
