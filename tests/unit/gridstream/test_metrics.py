"""gridstream.metrics: label sets that cannot grow, lag arithmetic, counts at the edges."""

from __future__ import annotations

import doctest
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from connectors.ocpp import observe
from gridstream import metrics
from gridstream.records import DeadLetter

T = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def value(name: str, **labels: str) -> float:
    return metrics.sample_values(name, labels) or 0.0


@pytest.mark.parametrize("module", [metrics, observe], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: object) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)  # type: ignore[arg-type]
    assert attempted > 0
    assert failed == 0


def test_every_metric_is_named_gridstream_and_documented() -> None:
    ours = [
        family
        for family in metrics.REGISTRY.collect()
        if not family.name.startswith(("process_", "python_"))
    ]
    assert ours, "no gridstream metric registered"
    for family in ours:
        assert family.name.startswith("gridstream_"), family.name
        assert family.documentation, family.name
        # The module docstring's table names each one (one source of truth, read by people).
        assert family.name in (metrics.__doc__ or ""), family.name


@pytest.mark.parametrize(
    ("frame", "version", "label"),
    [
        ('[2,"1","MeterValues",{}]', "ocpp1.6", "MeterValues"),  # no spaces
        ('  [ 2 , "a\\"b" , "Heartbeat" , {} ]', "ocpp2.0.1", "Heartbeat"),  # escaped id
        ('[2,"1","TransactionEvent",{}]', "ocpp1.6", "other"),  # a 2.x action on 1.6
        ('[2,"1","StartTransaction",{}]', "ocpp1.6", "StartTransaction"),
        ('[6,"1","NotifyPeriodicEventStream",{}]', "ocpp2.1", "NotifyPeriodicEventStream"),
        ('[2,"1","' + "A" * 500 + '",{}]', "ocpp1.6", "other"),  # invented, huge: bounded
        ('[3,"1",{}]', "ocpp1.6", "CALLRESULT"),
        ('[4,"1","GenericError","",{}]', "ocpp2.0.1", "CALLERROR"),
        ('[9,"1","Heartbeat",{}]', "ocpp1.6", "other"),  # no such message type
        ("not json", "ocpp1.6", "malformed"),
        (b'[2,"1","Heartbeat",{}]', "ocpp2.1", "Heartbeat"),  # a binary frame
    ],
)
def test_ocpp_action_label_is_the_action_only_when_the_version_defines_it(
    frame: str | bytes, version: str, label: str
) -> None:
    assert observe.action_label(frame, version) == label  # type: ignore[arg-type]


def test_observing_a_frame_counts_it_and_times_its_answer() -> None:
    before = value("gridstream_messages_in_total", protocol="ocpp1.6", action="Heartbeat")
    count = value("gridstream_answer_seconds_count", protocol="ocpp1.6", action="Heartbeat")
    fast = value(
        "gridstream_answer_seconds_bucket", protocol="ocpp1.6", action="Heartbeat", le="0.001"
    )
    observe.observe_frame("ocpp1.6", '[2,"1","Heartbeat",{}]', 0.0002)
    observe.observe_frame("ocpp1.6", '[2,"2","Heartbeat",{}]', 0.3)
    assert value("gridstream_messages_in_total", protocol="ocpp1.6", action="Heartbeat") == (
        before + 2
    )
    assert (
        value("gridstream_answer_seconds_count", protocol="ocpp1.6", action="Heartbeat")
        == count + 2
    )
    # 0.2 ms is in the 1 ms bucket, 300 ms is not.
    assert (
        value(
            "gridstream_answer_seconds_bucket", protocol="ocpp1.6", action="Heartbeat", le="0.001"
        )
        == fast + 1
    )


def _letter(source: str, reason: str) -> DeadLetter:
    return DeadLetter(source=source, reason=reason, detail="d", raw="r", received_at=T)


def test_dead_letters_are_counted_by_source_family_and_known_reason() -> None:
    def count(source: str, reason: str) -> float:
        return value("gridstream_dead_letters_total", source=source, reason=reason)

    schema, late, other = (
        count("ocpp", "schema_violation"),
        count("worker", "too_late"),
        count("ocpi", "unauthorized"),
    )
    metrics.count_dead_letters(
        [
            _letter("ocpp2.0.1", "schema_violation"),
            _letter("ocpp1.6", "schema_violation"),
            _letter("worker:meter.samples", "too_late"),
            _letter("ocpi9.9<x>", "unauthorized"),  # a version out of a URL: one family
        ]
    )
    assert count("ocpp", "schema_violation") == schema + 2
    assert count("worker", "too_late") == late + 1
    assert count("ocpi", "unauthorized") == other + 1


def test_records_produced_are_counted_per_topic() -> None:
    before = value("gridstream_records_produced_total", topic="meter.samples")
    dlq = value("gridstream_records_produced_total", topic="dlq")
    metrics.count_produced(["meter.samples", "dlq", "meter.samples"])
    assert value("gridstream_records_produced_total", topic="meter.samples") == before + 2
    assert value("gridstream_records_produced_total", topic="dlq") == dlq + 1


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


class FakeConsumer:
    def __init__(self, ends: dict[TP, int | None], positions: dict[TP, int]) -> None:
        self.ends, self.positions = ends, positions

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int | None:
        return self.ends[tp]

    async def position(self, tp: TP) -> int | None:
        return self.positions[tp]


async def test_lag_is_sampled_per_assigned_partition_and_dropped_when_it_moves_away() -> None:
    a, b, c = TP("meter.samples", 0), TP("meter.samples", 1), TP("peaks", 0)
    consumer = FakeConsumer({a: 120, b: 50, c: None}, {a: 100, b: 60, c: 0})
    # 120 - 100 = 20 behind; b's reported end is short of its position (the embedded
    # broker's gap): 0, never negative; c's end is not known yet: not reported.
    assert await metrics.sample_lag("g-test", consumer) == {("meter.samples", 0): 20,
                                                            ("meter.samples", 1): 0}  # fmt: skip
    assert (
        value("gridstream_consumer_lag", group="g-test", topic="meter.samples", partition="0") == 20
    )
    consumer.ends = {b: 70}  # a rebalance took partition 0 away
    await metrics.sample_lag("g-test", consumer)
    assert (
        metrics.sample_values(
            "gridstream_consumer_lag",
            {"group": "g-test", "topic": "meter.samples", "partition": "0"},
        )
        is None
    )
    assert (
        value("gridstream_consumer_lag", group="g-test", topic="meter.samples", partition="1") == 10
    )


def test_a_watched_gauge_reads_its_source_at_every_scrape() -> None:
    held = [3]
    metrics.watch(metrics.SPOOL_ENTRIES, lambda: held[0], ["test-spool"])
    assert value("gridstream_spool_entries", spool="test-spool") == 3
    held[0] = 0
    assert value("gridstream_spool_entries", spool="test-spool") == 0
