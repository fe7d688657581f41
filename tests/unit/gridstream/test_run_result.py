"""The closing summary of `gridstream run` says what went wrong, not only what went right."""

from __future__ import annotations

from pathlib import Path

from gridstream.broker import BrokerInfo
from gridstream.pipeline import RunResult

BROKER = BrokerInfo("127.0.0.1:1", "gridstream-e1", embedded=True)


def test_a_clean_run_does_not_mention_failures() -> None:
    text = str(RunResult(BROKER, 9000, Path("d"), messages_accepted=3, rows_written={"peaks": 2}))
    assert "accepted 3, rejected 0" in text
    assert "NOT STORED" not in text
    assert "warehouse d: peaks 2" in text
    assert "spool: 0 entries held at exit\n" in text


def test_messages_the_broker_did_not_acknowledge_are_called_out() -> None:
    text = str(RunResult(BROKER, 9000, Path("d"), messages_not_stored=4, internal_errors=1))
    assert "NOT STORED (the spool refused them; stations were told to retry): 4" in text
    assert "internal errors: 1" in text
    assert "warehouse d: nothing written" in text


def test_retransmissions_left_out_are_reported_only_when_there_were_some() -> None:
    assert "re-sent" not in str(RunResult(BROKER, 9000, Path("d")))
    text = str(RunResult(BROKER, 9000, Path("d"), messages_duplicate=2, records_duplicate=7))
    assert "re-sent by stations and not stored twice: 2 messages, 7 records" in text


def test_entries_the_spool_still_holds_at_exit_are_called_out() -> None:
    text = str(RunResult(BROKER, 9000, Path("d"), spool_held=7))
    assert "spool: 7 entries held at exit, NOT YET DURABLE" in text


def test_connector_limits_at_work_are_reported_only_when_they_acted() -> None:
    assert "connector limits" not in str(RunResult(BROKER, 9000, Path("d")))
    text = str(
        RunResult(
            BROKER, 9000, Path("d"), handshakes_refused=3, frames_throttled=5, oversize_closed=1
        )
    )
    assert (
        "connector limits: 3 handshakes refused (401/503), 5 frames delayed by the rate limit, "
        "1 connections closed for an oversize frame" in text
    )
