"""The connector side of the scale bench: the real OCPP server, its publish path, the yardstick.

- ``start_connector``: ``serve_ocpp`` on a free loopback port, publishing through the given
  publish path; websockets server options (``--ws``) can be tried without changing the
  connector, by wrapping the ``serve`` it calls for the duration of the start.
- ``PUBLISH_PATHS``: how accepted records reach the broker (``direct``: the
  ``RecordProducer``, acks=all, before each answer; ``spool``: the durable spool, a
  forwarder taking the records on to the broker).
- ``CapturingPublish``: counts acknowledged records and keeps a sample of them for the
  yardstick,
- ``raw_produce``: a plain aiokafka producer sending those same records, acks=all, many in
  flight, to the same broker.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeAlias
from unittest import mock

from aiokafka import AIOKafkaProducer
from websockets.asyncio.server import serve as websockets_serve

from connectors.ocpp import server as server_module
from connectors.ocpp.handler import Publish
from connectors.ocpp.server import OcppServer, serve_ocpp
from gridstream import producer as producer_module
from gridstream import topics
from gridstream.producer import RecordProducer
from gridstream.records import DeadLetter, Record
from gridstream.registry import SiteRegistry

#: The websockets ``serve()`` options worth trying for memory per connection.
WS_OPTIONS: Final = frozenset(
    {
        "ping_interval",
        "ping_timeout",
        "close_timeout",
        "max_queue",
        "write_limit",
        "max_size",
        "compression",
        "backlog",
    }
)


#: The aiokafka producer options worth trying under many concurrent publishers.
PRODUCER_OPTIONS: Final = frozenset({"max_batch_size", "linger_ms", "max_request_size"})


def parse_ws_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` for websockets' ``serve()``: ``none`` is None, numbers are numbers.

    >>> parse_ws_option("ping_interval=none"), parse_ws_option("max_queue=4")
    (('ping_interval', None), ('max_queue', 4))
    """
    return _option(text, WS_OPTIONS)


def parse_producer_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` for the ``AIOKafkaProducer`` inside ``RecordProducer``.

    >>> parse_producer_option("max_batch_size=1048576")
    ('max_batch_size', 1048576)
    """
    return _option(text, PRODUCER_OPTIONS)


def _option(text: str, allowed: frozenset[str]) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or key not in allowed:
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with KEY one of {', '.join(sorted(allowed))}, got {text!r}"
        )
    value: object
    if raw.lower() == "none":
        value = None
    else:
        try:
            value = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                value = raw
    return key, value


@dataclass(frozen=True)
class PublishPath:
    """A publish coroutine, how many records the broker acknowledged so far, and the end.

    ``close`` waits for what is still on its way to the broker and returns figures.
    """

    publish: Publish
    broker_acked: Callable[[], int]
    close: Callable[[], Awaitable[dict[str, Any]]]


PathFactory: TypeAlias = Callable[[RecordProducer, str, argparse.Namespace], Awaitable[PublishPath]]


async def direct_path(
    producer: RecordProducer, bootstrap: str, opts: argparse.Namespace
) -> PublishPath:
    """Records go straight to the producer, acknowledged (acks=all) before the answer."""

    async def close() -> dict[str, Any]:
        return {}

    return PublishPath(producer.publish, lambda: producer.sent, close)


async def spool_path(
    producer: RecordProducer, bootstrap: str, opts: argparse.Namespace
) -> PublishPath:
    """Records go to a spool (answered once on disk); a forwarder takes them to the broker.

    As ``gridstream run`` wires it: ``ack`` release mode, a ``KafkaTarget`` with acks=all.
    The spool lives in a fresh directory under ``opts.spool_dir`` (default: the system's
    temporary directory), removed at the end; its sync cost is that disk's.
    """
    from connectors.spool import Forwarder, KafkaTarget, Spool

    directory = Path(tempfile.mkdtemp(prefix="bench-scale-spool-", dir=opts.spool_dir))
    spool = Spool(directory, max_bytes=opts.spool_max_bytes, mode="ack")
    await spool.start()
    forwarder = Forwarder(spool, KafkaTarget(bootstrap, client_id="bench-scale-spool"))
    await forwarder.start()

    async def close() -> dict[str, Any]:
        started = time.monotonic()
        while not forwarder.caught_up and time.monotonic() - started < opts.answer_timeout_s:
            await asyncio.sleep(0.05)
        figures: dict[str, Any] = {
            "directory": str(directory),
            "caught_up": forwarder.caught_up,
            "catch_up_s": time.monotonic() - started,
            "forwarded": forwarder.forwarded,
            "forward_failures": forwarder.failures,
            **dataclasses.asdict(spool.stats()),
        }
        await forwarder.stop()
        await spool.close()
        shutil.rmtree(directory, ignore_errors=True)
        return figures

    return PublishPath(spool.publish, lambda: forwarder.forwarded, close)


PUBLISH_PATHS: dict[str, PathFactory] = {"direct": direct_path, "spool": spool_path}


#: A record as it goes on the wire: (topic, value, key).
Payload: TypeAlias = tuple[str, bytes, bytes]


class CapturingPublish:
    """A publish path that counts acknowledged records and keeps the first ``keep``.

    They are kept serialised: a few thousand pydantic records would weigh enough to show
    in the memory per connection.
    """

    def __init__(self, path: PublishPath, keep: int = 5_000) -> None:
        """Wrap ``path``."""
        self.path = path
        self.keep = keep
        self.records = 0
        self.sample: list[Payload] = []

    async def __call__(self, records: Sequence[Record], /) -> None:
        """Publish ``records`` through the wrapped path; count them once acknowledged."""
        if len(self.sample) < self.keep:
            self.sample.extend(
                (topics.for_record(r).name, r.to_json(), topics.key_of(r)) for r in records
            )
        await self.path.publish(records)
        self.records += len(records)

    async def close(self) -> dict[str, Any]:
        """Close the wrapped path; its figures."""
        return await self.path.close()


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def start_connector(
    publish: Publish, producer: RecordProducer, ws_options: dict[str, object]
) -> OcppServer:
    """``serve_ocpp`` on a free loopback port; ``ws_options`` go to websockets' ``serve``."""

    async def dead_letter(letter: DeadLetter) -> None:
        await producer.publish([letter])

    start = functools.partial(
        serve_ocpp,
        host="127.0.0.1",
        port=0,
        publish=publish,
        dead_letter=dead_letter,
        registry=SiteRegistry(),
        now=_utc_now,
        id_token_key=b"bench-scale",
    )
    if not ws_options:
        return await start()

    # serve_ocpp has no parameter for these (yet): wrap the serve() it calls, for this start
    # only, overriding whatever it passes itself.
    def tuned(*args: Any, **kwargs: Any) -> Any:
        return websockets_serve(*args, **{**kwargs, **ws_options})

    with mock.patch.object(server_module, "serve", tuned):
        return await start()


def make_producer(bootstrap: str, options: dict[str, object]) -> RecordProducer:
    """A ``RecordProducer``; ``options`` override its aiokafka settings (for trying them)."""
    if not options:
        return RecordProducer(bootstrap, client_id="bench-scale")

    # RecordProducer takes no such parameters: wrap the AIOKafkaProducer it builds.
    def tuned(*args: Any, **kwargs: Any) -> Any:
        return AIOKafkaProducer(*args, **{**kwargs, **options})

    with mock.patch.object(producer_module, "AIOKafkaProducer", tuned):
        return RecordProducer(bootstrap, client_id="bench-scale")


async def raw_produce(
    bootstrap: str,
    payloads: Sequence[Payload],
    seconds: float,
    in_flight: int,
    options: dict[str, object],
) -> dict[str, float]:
    """Records/s of a plain aiokafka producer sending ``payloads`` round and round, acks=all.

    The same producer settings as ``RecordProducer``; values serialised beforehand, so this
    is the broker and client's rate alone. ``in_flight`` sends are issued, then awaited.
    ``options`` are those tried on the connector's producer (``--producer``).
    """
    settings: dict[str, Any] = {
        "acks": "all",
        "linger_ms": 2,
        "enable_idempotence": False,
        "request_timeout_ms": 15000,
    }
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id="bench-scale-raw", **(settings | options)
    )
    await producer.start()
    sent = 0
    cpu0 = time.process_time()
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            futures = []
            for i in range(sent, sent + in_flight):
                topic, value, key = payloads[i % len(payloads)]
                futures.append(await producer.send(topic, value, key=key))
            await asyncio.gather(*futures)
            sent += len(futures)
    finally:
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu0
        await producer.stop()
    return {
        "records": sent,
        "seconds": elapsed,
        "records_per_s": sent / elapsed,
        "in_flight": in_flight,
        "producer_cpu_pct": cpu / elapsed * 100,
    }
