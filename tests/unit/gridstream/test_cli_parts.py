"""`gridstream connector|worker|sink` need a running broker; they say so before starting."""

from __future__ import annotations

import pytest

from gridstream.cli import main


@pytest.mark.parametrize("part", ["connector", "worker", "sink"])
def test_a_part_alone_refuses_to_start_without_the_bootstrap_setting(
    part: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRIDSTREAM_KAFKA_BOOTSTRAP", raising=False)
    assert main([part]) == 2
    err = capsys.readouterr().err
    assert f"gridstream: the {part} runs against a running broker" in err
    assert "set GRIDSTREAM_KAFKA_BOOTSTRAP" in err
    assert "`gridstream broker` printed" in err


def test_a_connector_alone_refuses_to_release_its_spool_on_sink(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRIDSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("GRIDSTREAM_SPOOL_RELEASE", "sink")
    assert main(["connector"]) == 2
    assert "GRIDSTREAM_SPOOL_RELEASE=sink needs the warehouse sink" in capsys.readouterr().err
