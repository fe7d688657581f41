"""What the OCPI receiver tells the metrics about each request (``gridstream.metrics``).

An ASGI middleware around the receiver's app: it times each HTTP request until its answer
is sent and labels it ``ocpi`` with the endpoint that served it and the method
(``session PATCH``), read from the route Starlette matched, so that a partner's made-up
path is one label (``other``), not a new one per path.
"""

from __future__ import annotations

import time
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridstream import metrics

PROTOCOL: Final = "ocpi"
METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def action_label(scope: Scope) -> str:
    """``<endpoint> <METHOD>`` of a routed request (``session PATCH``), else ``other``."""
    endpoint: Any = scope.get("endpoint")
    name = getattr(endpoint, "__name__", None)
    method = scope.get("method", "")
    if name is None or method not in METHODS:
        return metrics.OTHER
    return f"{name} {method}"


class ObserveRequests:
    """Counts and times every HTTP request of the wrapped app (``gridstream_messages_in``)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request; observe it once its answer has started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered: list[float] = []

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.append(time.perf_counter() - started)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            # The router put the matched endpoint into the scope it was handed (this one).
            action = action_label(scope)
            metrics.MESSAGES_IN.labels(PROTOCOL, action).inc()
            seconds = answered[0] if answered else time.perf_counter() - started
            metrics.ANSWER_SECONDS.labels(PROTOCOL, action).observe(seconds)
