"""ENTSO-E import rate: a year of PT15M day-ahead prices through ``gridstream signals import``.

Measured in one run, against one embedded broker, beside a baseline:

1. parse: ``connectors.grid.entsoe.parse_document`` alone (XML to validated records).
2. import: parse, then produce every signal to ``grid.signals`` with acks=all through
   ``RecordProducer`` (what the command does against a configured broker).
3. baseline: a plain aiokafka producer sending the same signals, already encoded, with the
   same keys and acks=all: the floor the import cannot beat. The import is reported as
   signals/s and as a ratio to it.
4. command: ``import_signals`` as ``gridstream signals import`` runs it without a broker
   configured (its own embedded broker and warehouse sink; includes the sink's group join).

The document has one TimeSeries per UTC day, curveType A03 with a price left out when it
equals the previous one (as ENTSO-E compresses them since October 2025), seeded.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer

from connectors.grid.entsoe import parse_document
from gridstream import topics
from gridstream.broker import EmbeddedBroker, ensure_topics
from gridstream.producer import RecordProducer
from gridstream.settings import Settings
from gridstream.signals_import import import_signals

ZONE = "10YBE----------2"
QUARTER_HOUR = timedelta(minutes=15)


def year_of_prices(year: int = 2025, seed: int = 1) -> bytes:
    """An A44 document with every quarter-hour of ``year`` (UTC), A03-compressed."""
    rng = random.Random(seed)
    start = datetime(year, 1, 1, tzinfo=UTC)
    days = (datetime(year + 1, 1, 1, tzinfo=UTC) - start).days
    series = []
    price = 80.0
    for day in range(days):
        day_start = start + timedelta(days=day)
        points = []
        previous = None
        for position in range(1, 97):
            if rng.random() < 0.3:  # the price moves in 70 % of the quarter-hours
                price = round(price + rng.uniform(-15, 15), 2)
            if price != previous:
                points.append(
                    f"<Point><position>{position}</position>"
                    f"<price.amount>{price}</price.amount></Point>"
                )
                previous = price
        series.append(
            f"<TimeSeries><mRID>{day + 1}</mRID><businessType>A62</businessType>"
            f'<in_Domain.mRID codingScheme="A01">{ZONE}</in_Domain.mRID>'
            f'<out_Domain.mRID codingScheme="A01">{ZONE}</out_Domain.mRID>'
            "<contract_MarketAgreement.type>A01</contract_MarketAgreement.type>"
            "<currency_Unit.name>EUR</currency_Unit.name>"
            "<price_Measure_Unit.name>MWH</price_Measure_Unit.name><curveType>A03</curveType>"
            f"<Period><timeInterval><start>{_utc(day_start)}</start>"
            f"<end>{_utc(day_start + timedelta(days=1))}</end></timeInterval>"
            f"<resolution>PT15M</resolution>{''.join(points)}</Period></TimeSeries>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Publication_MarketDocument '
        'xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">'
        f"<mRID>bench-{year}</mRID><revisionNumber>1</revisionNumber><type>A44</type>"
        + "".join(series)
        + "</Publication_MarketDocument>"
    ).encode()


def _utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%MZ")


async def measure(document: bytes) -> dict[str, float]:
    """The four figures (see the module docstring), each in signals (records) per second."""
    received = datetime.now(UTC)
    t0 = time.perf_counter()
    parsed = parse_document(document, received)
    parse_s = time.perf_counter() - t0
    signals = len(parsed.signals)
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        async with RecordProducer(broker.bootstrap, client_id="bench-signals") as producer:
            t0 = time.perf_counter()
            await producer.publish(parse_document(document, received).signals)
            import_s = time.perf_counter() - t0
        encoded = [(topics.key_of(s), s.to_json()) for s in parsed.signals]
        raw = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                               linger_ms=2, max_batch_size=1 << 20)  # fmt: skip
        await raw.start()
        try:
            t0 = time.perf_counter()
            futures = [await raw.send(topics.GRID_SIGNALS.name, v, key=k) for k, v in encoded]
            await asyncio.gather(*futures)
            baseline_s = time.perf_counter() - t0
        finally:
            await raw.stop()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prices.xml"
        path.write_bytes(document)
        t0 = time.perf_counter()
        result = await import_signals(Settings(data_dir=Path(tmp) / "data"), [path], "entsoe")
        command_s = time.perf_counter() - t0
        assert result.signals == signals, result
    return {
        "signals": signals,
        "parse_per_s": signals / parse_s,
        "import_per_s": signals / (parse_s + import_s),
        "baseline_per_s": signals / baseline_s,
        "command_s": command_s,
        "command_per_s": signals / command_s,
    }


def report(figures: dict[str, float]) -> str:
    """The figures, the import beside the baseline and as a ratio to it."""
    base = figures["baseline_per_s"]
    return "\n".join(
        [
            f"ENTSO-E import, a year of PT15M prices ({figures['signals']:.0f} signals):",
            f"  baseline aiokafka send (encoded)  : {base:10.0f} records/s",
            f"  parse (XML -> records)            : {figures['parse_per_s']:10.0f} signals/s",
            f"  import: parse + produce acks=all  : {figures['import_per_s']:10.0f} signals/s  "
            f"ratio {figures['import_per_s'] / base:.3f}",
            f"  gridstream signals import (embedded broker + sink): "
            f"{figures['command_s']:.1f} s, {figures['command_per_s']:.0f} signals/s",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.signals", description=__doc__)
    parser.add_argument("--year", type=int, default=2025)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(report(asyncio.run(measure(year_of_prices(args.year)))))
