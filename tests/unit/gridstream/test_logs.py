"""Log lines: station-supplied text cannot forge a line, in text or in JSON."""

from __future__ import annotations

import logging

import orjson

from gridstream.logs import JsonFormatter, SafeFormatter

FORGED = "ACME\n2026-01-15 10:00:00 ERROR   gridstream: broker down\x1b[2J"


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("connectors.ocpp", logging.INFO, __file__, 1, msg, args, None)


def test_a_vendor_name_with_a_newline_stays_on_its_line() -> None:
    line = SafeFormatter("%(levelname)s %(name)s: %(message)s").format(
        record("station %s booted: vendor %s", "CS-1", FORGED)
    )
    assert "\n" not in line and "\x1b" not in line
    assert line == (
        "INFO connectors.ocpp: station CS-1 booted: vendor "
        "ACME\\n2026-01-15 10:00:00 ERROR   gridstream: broker down\\x1b[2J"
    )


def test_json_lines_carry_the_text_as_data() -> None:
    line = JsonFormatter().format(record("unknown action %s", FORGED))
    assert "\n" not in line
    parsed = orjson.loads(line)
    assert (parsed["level"], parsed["logger"]) == ("info", "connectors.ocpp")
    assert parsed["message"] == f"unknown action {FORGED}"
