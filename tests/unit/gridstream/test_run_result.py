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


def test_messages_the_broker_did_not_acknowledge_are_called_out() -> None:
    text = str(RunResult(BROKER, 9000, Path("d"), messages_not_stored=4, internal_errors=1))
    assert "NOT STORED (broker did not acknowledge; stations were told to retry): 4" in text
    assert "internal errors: 1" in text
    assert "warehouse d: nothing written" in text
