"""The scale bench's pure helpers: the frames it sends, its percentiles, its /proc readings."""

from __future__ import annotations

import argparse
import doctest
import json
from datetime import UTC, datetime
from types import ModuleType

import pytest

from bench import scale, scale_connector, scale_frames, scale_load, scale_stats
from bench.scale import split
from bench.scale_connector import parse_producer_option, parse_ws_option
from bench.scale_frames import (
    READINGS_PER_FRAME,
    VERSIONS,
    boot_frame,
    heartbeat_frame,
    meter_frame,
    version_of,
)
from bench.scale_load import phase_offset_s
from bench.scale_report import memory_figures
from bench.scale_stats import latency_summary_ms, parse_cpu_ticks, parse_vmrss_kib, percentile
from connectors.ocpp import Accepted, CallContext, CallFrame, handle_call, parse_frame

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def _handle(raw: str, version: str) -> Accepted:
    frame = parse_frame(raw, version)  # type: ignore[arg-type]
    assert isinstance(frame, CallFrame), frame
    ctx = CallContext(
        station_id="SCALE-0-00001",
        site_id="SITE-1",
        message_id=frame.message_id,
        now=NOW,
        source=version,  # type: ignore[arg-type]
        id_token_key=b"test",
    )
    result = handle_call(frame, ctx)
    assert isinstance(result, Accepted), result
    return result


@pytest.mark.parametrize("version", VERSIONS)
def test_every_frame_the_bench_sends_is_accepted_by_the_connector(version: str) -> None:
    for raw in (
        boot_frame(version, "1", "SCALE-0-00001"),  # type: ignore[arg-type]
        heartbeat_frame("2"),
        meter_frame(version, "3", NOW, 1234.5),  # type: ignore[arg-type]
    ):
        _handle(raw, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_meter_values_frame_becomes_one_sample_of_ten_readings(version: str) -> None:
    result = _handle(meter_frame(version, "7", NOW, 1234.5), version)  # type: ignore[arg-type]
    (sample,) = result.records
    assert len(sample.readings) == READINGS_PER_FRAME == 10  # type: ignore[attr-defined]


def test_meter_frame_is_a_call_with_the_given_id_and_register() -> None:
    frame = json.loads(meter_frame("ocpp1.6", "42", NOW, 1184.0))
    assert frame[:3] == [2, "42", "MeterValues"]
    (meter_value,) = frame[3]["meterValue"]
    assert meter_value["timestamp"] == "2026-01-15T10:00:00Z"
    assert meter_value["sampledValue"][0]["value"] == "1184.0"  # 1.6 values are strings


def test_stations_take_the_versions_in_turn() -> None:
    versions = ("ocpp1.6", "ocpp2.0.1")
    assert [version_of(i, versions) for i in range(4)] == [
        "ocpp1.6",
        "ocpp2.0.1",
        "ocpp1.6",
        "ocpp2.0.1",
    ]


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0  # one value is every percentile


def test_p99_of_fewer_than_a_hundred_values_is_the_slowest() -> None:
    # ceil(10 * 0.99) = 10: the 10th of 10
    assert percentile([float(v) for v in range(10)], 99) == 9.0


@pytest.mark.parametrize("q", [0, -1, 101])
def test_percentile_refuses_a_q_outside_0_to_100(q: float) -> None:
    with pytest.raises(ValueError):
        percentile([1.0], q)


def test_percentile_refuses_no_values() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_summary_is_in_milliseconds_whatever_the_order() -> None:
    summary = latency_summary_ms([0.003, 0.001, 0.002, 0.004])
    assert summary == {"count": 4, "p50_ms": 2.0, "p90_ms": 4.0, "p99_ms": 4.0, "max_ms": 4.0}
    assert latency_summary_ms([]) == {"count": 0}


def test_vmrss_is_read_from_proc_status() -> None:
    status = "Name:\tpython\nVmPeak:\t 999999 kB\nVmRSS:\t   52340 kB\nRssAnon:\t 40000 kB\n"
    assert parse_vmrss_kib(status) == 52340


def test_cpu_ticks_count_from_the_last_parenthesis() -> None:
    # a command name with ") " in it must not shift the fields; utime 120 + stime 30
    stat = "7 (weird) name) R 1 7 7 0 -1 4194560 100 0 0 0 120 30 0 0 20 0 1 0"
    assert parse_cpu_ticks(stat) == 150


def test_split_shares_a_step_between_load_processes() -> None:
    assert split(1000, 2) == [500, 500]
    assert split(7, 3) == [3, 2, 2]
    assert sum(split(10_001, 2)) == 10_001


def test_paced_stations_are_spread_over_the_interval() -> None:
    offsets = [phase_offset_s(i, 10.0) for i in range(100)]
    assert all(0 <= o < 10.0 for o in offsets)
    # every tenth of the interval gets some stations: no bunching at the start
    assert {int(o) for o in offsets} == set(range(10))


def test_options_for_websockets_and_the_producer_are_typed() -> None:
    assert parse_ws_option("ping_interval=none") == ("ping_interval", None)
    assert parse_ws_option("write_limit=4096") == ("write_limit", 4096)
    assert parse_ws_option("compression=none") == ("compression", None)
    assert parse_producer_option("linger_ms=5") == ("linger_ms", 5)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_ws_option("max_qeue=4")  # a typo is refused, not silently ignored


@pytest.mark.parametrize(
    "module",
    [scale, scale_connector, scale_frames, scale_load, scale_stats],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0
    assert failed == 0


def test_memory_per_connection_is_the_growth_over_rss_before_per_connection() -> None:
    results = {
        "idle": {"connector_rss_kib": 60_000 + 200_000},
        "saturated": {"connector_rss_max_kib": 460_000, "connector_rss_after_kib": 360_000},
    }
    memory = memory_figures(60_000, 10_000, results)
    assert memory["per_connection_idle_kib"] == 20.0  # (260,000 - 60,000) / 10,000
    assert memory["per_connection_under_load_kib"] == 40.0  # (460,000 - 60,000) / 10,000
    assert memory["per_connection_after_traffic_kib"] == 30.0  # (360,000 - 60,000) / 10,000
