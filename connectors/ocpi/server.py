"""Serving the OCPI receiver over HTTP (uvicorn) and calling partners (httpx).

``serve_ocpi`` binds the socket itself (a port in use raises ``OSError`` at once, as the
OCPP server does, instead of uvicorn's exit), serves the receiver's app and returns a
handle to stop it. uvicorn's own signal handling is switched off: ``gridstream run`` and
``gridstream ocpi`` own SIGINT and SIGTERM.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import httpx
import uvicorn

from connectors.ocpi.app import OcpiReceiver


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave signals to the process that embeds the server."""
        yield


class AsgiServer:
    """A running uvicorn server of one ASGI app, on a socket of its own: ``port``."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        """Hold what ``serve_asgi`` started."""
        self._server = server
        self._sock = sock
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The TCP port it listens on (useful with port 0)."""
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        """Serve in a task; return once it accepts connections."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]), name="ocpi")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise RuntimeError("the OCPI server stopped before it started")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Stop accepting, finish open requests, and wait for the server to end."""
        self._server.should_exit = True
        if self._task is not None:
            await self._task
            self._task = None
        self._sock.close()


class OcpiServer(AsgiServer):
    """A running OCPI receiver: its ``receiver`` (state, counters) and ``port``."""

    def __init__(self, receiver: OcpiReceiver, server: uvicorn.Server, sock: socket.socket):
        """Hold what ``serve_ocpi`` started."""
        super().__init__(server, sock)
        self.receiver = receiver


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, loop="none")


async def serve_ocpi(host: str, port: int, receiver: OcpiReceiver) -> OcpiServer:
    """Start serving ``receiver`` on ``host:port`` (0: any free port)."""
    sock = _bind(host, port)
    server = OcpiServer(receiver, _Server(_config(receiver.app())), sock)
    await server.start()
    return server


async def serve_asgi(host: str, port: int, app: Any) -> AsgiServer:
    """Start serving any ASGI ``app`` (tests and benchmarks play OCPI partners with it)."""
    server = AsgiServer(_Server(_config(app)), _bind(host, port))
    await server.start()
    return server


def authorization(token: str) -> str:
    """The ``Authorization`` header value for ``token`` (2.2.1: Base64 of its UTF-8).

    >>> authorization("example-token")
    'Token ZXhhbXBsZS10b2tlbg=='
    """
    return "Token " + base64.b64encode(token.encode()).decode()


async def get_versions(url: str, token_b: str) -> Sequence[Mapping[str, Any]]:
    """GET a partner's versions with its token B; the envelope's ``data`` (a list)."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(url, headers={"Authorization": authorization(token_b)})
    response.raise_for_status()
    body = response.json()
    data = body.get("data") if isinstance(body, dict) else None
    if body.get("status_code") != 1000 or not isinstance(data, list):
        raise ValueError(f"versions answer is not a success with a list: {body!r:.200}")
    return [d for d in data if isinstance(d, dict)]
