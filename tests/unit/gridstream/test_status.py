"""gridstream status: lag arithmetic, reading a scrape, and what counts as unhealthy."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridstream import status as status_module
from gridstream.records import MeterSample, Reading
from gridstream.settings import Settings
from gridstream.status import Limits, Scrape, Status, TopicLag, format_status, judge, parse_scrape
from warehouse.sink import ParquetSink

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_docstring_examples_run() -> None:
    failed, attempted = doctest.testmod(status_module, verbose=False)
    assert attempted > 0
    assert failed == 0


def test_a_scrape_gives_stations_spool_sink_commit_and_sampled_lag() -> None:
    text = "\n".join(
        [
            "# TYPE gridstream_stations_connected gauge",
            "gridstream_stations_connected 3.0",
            "# TYPE gridstream_spool_entries gauge",
            'gridstream_spool_entries{spool="connector"} 12.0',
            "# TYPE gridstream_sink_last_commit_timestamp_seconds gauge",
            "gridstream_sink_last_commit_timestamp_seconds 1.7964e+09",
            "# TYPE gridstream_consumer_lag gauge",
            'gridstream_consumer_lag{group="gridstream",topic="meter.samples",partition="2"} 40.0',
        ]
    )
    got = parse_scrape("http://x/metrics", text)
    assert (got.stations_online, got.spool_entries) == (3, 12)
    assert got.sink_last_commit == datetime.fromtimestamp(1.7964e9, UTC)
    assert got.lag == {("gridstream", "meter.samples", 2): 40}


def healthy() -> Status:
    return Status(bootstrap="b:9092", reachable=True, cluster_id="c")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: setattr(s, "missing_topics", ["peaks"]), "topics missing: peaks"),
        # 10,001 behind against the default limit of 10,000.
        (
            lambda s: s.lag.append(TopicLag("gridstream", "meter.samples", 10_001, {0: 10_001})),
            "group gridstream is 10001 records behind on meter.samples",
        ),
        # The sink is behind and wrote nothing for 301 s (limit 300 s): stuck.
        (
            lambda s: (
                s.lag.append(TopicLag("gridstream-warehouse", "dlq", 5, {0: 5})),
                setattr(s, "sink_last_write", NOW - timedelta(seconds=301)),
            ),
            "the warehouse sink is 5 records behind and last wrote 301 s ago",
        ),
        (
            lambda s: setattr(s, "spool_entries", 100_001),
            "spool holds 100001 entries not yet durable",
        ),
        (
            lambda s: s.scrapes.append(Scrape("http://c/metrics", ok=False, error="refused")),
            "metrics at http://c/metrics unreadable: refused",
        ),
    ],
)
def test_each_unhealthy_condition_is_one_problem_and_exit_1(change: object, problem: str) -> None:
    s = healthy()
    assert judge(s, Limits(), NOW) == []
    change(s)  # type: ignore[operator]
    s.problems = judge(s, Limits(), NOW)
    assert s.problems == [problem]
    assert s.exit_code == 1
    assert problem in format_status(s, NOW)


def test_an_idle_sink_with_nothing_to_do_is_healthy_however_old_its_last_write() -> None:
    s = healthy()
    s.lag.append(TopicLag("gridstream-warehouse", "dlq", 0, {0: 0}))
    s.sink_last_write = NOW - timedelta(days=3)
    assert judge(s, Limits(), NOW) == []


def test_lag_of_groups_that_are_not_gridstreams_is_shown_but_not_judged() -> None:
    s = healthy()
    s.lag.append(TopicLag("someone-elses", "dlq", 10**9, {0: 10**9}))
    assert judge(s, Limits(), NOW) == []


def test_without_a_broker_configured_status_is_unreachable(tmp_path: Path) -> None:
    got = status_module.collect(Settings(kafka_bootstrap=None, data_dir=tmp_path))
    assert got.exit_code == 2
    assert "GRIDSTREAM_KAFKA_BOOTSTRAP" in format_status(got, NOW)
    assert '"exit_code": 2' in got.to_json()


def test_each_topic_table_s_newest_commit_is_reported_and_counts_as_the_sink_writing(
    tmp_path: Path,
) -> None:
    sink = ParquetSink(tmp_path, "e1")
    for offset in range(2):  # two flushes: the table's versions 0 (created), 1 and 2
        sample = MeterSample(
            ts=NOW, station_id="st1", site_id="site1", evse_id=1, source="ocpp2.0.1",
            received_at=NOW,
            readings=(Reading(measurand="Energy.Active.Import.Register", value=1.0, unit="Wh"),),
        )  # fmt: skip
        sink.add("meter.samples", 0, offset, sample.to_json())
        sink.flush()
    got = status_module.table_commits(tmp_path)
    assert got["meter.samples"].version == 2
    committed_at = got["meter.samples"].at
    assert abs((committed_at - datetime.now(UTC)).total_seconds()) < 600

    s = healthy()
    s.tables = got
    s.lag.append(TopicLag("gridstream-warehouse", "meter.samples", 5, {0: 5}))
    s.sink_last_write = committed_at - timedelta(days=1)  # the newest file is old ...
    assert judge(s, Limits(), committed_at + timedelta(seconds=60)) == []  # ... the commit not
    assert "meter.samples version 2" in format_status(s, committed_at)
    assert '"version": 2' in s.to_json()
