"""Loops a part runs beside its main work, stopped with it (a feed, a poller, a sampler).

Each runs as ``loop(stop)`` until its ``stop`` event is set; the part's exit stack sets it,
waits for the loop to end and re-raises what the loop died of.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


def start_loop(
    parts: contextlib.AsyncExitStack,
    name: str,
    loop: Callable[[asyncio.Event], Coroutine[Any, Any, object]],
) -> None:
    """Run ``loop(stop)`` until ``parts`` closes, then set ``stop`` and wait for it."""
    stop = asyncio.Event()
    task = asyncio.create_task(loop(stop), name=name)
    parts.push_async_callback(stop_task, task, stop)


async def stop_task(task: asyncio.Task[Any], stop: asyncio.Event) -> None:
    """Ask a loop task to finish (its ``stop`` event), wait for it, re-raise its error."""
    stop.set()
    await task


async def cancel_task(task: asyncio.Task[Any]) -> None:
    """Cancel a task that only waits for work, and wait until it has stopped."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
