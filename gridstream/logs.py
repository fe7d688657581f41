r"""Log lines that station-supplied text cannot forge: readable in a terminal, JSON for machines.

Stations and partners choose strings that end up in log lines (an unknown action, a vendor
and model, a station id as far as the path allows). A newline or an escape sequence in one
could forge a line or repaint a terminal, so every message is escaped to printable
characters (``\n``, ``\x1b`` ...) before it is written; in ``json`` each line is one JSON
object (time, level, logger, message and the exception, if any), which a log shipper reads
without parsing prose.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

import orjson

LogFormat = Literal["text", "json"]

_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def printable(text: str) -> str:
    r"""``text`` with every non-printable character escaped, printable ones as they are.

    >>> printable("Vendor\nERROR forged line\x1b[31m")
    'Vendor\\nERROR forged line\\x1b[31m'
    >>> printable("café ok")
    'café ok'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class SafeFormatter(logging.Formatter):
    """The usual text format, with the message (and a traceback's text) made printable."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - stdlib name
        """Format with the escaped message."""
        record.message = printable(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC ISO 8601), level, logger, message, exc."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (JSON escapes control characters itself)."""
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure_logging(level: str, fmt: LogFormat = "text") -> None:
    """Log to standard error at ``level`` in ``fmt``, replacing any handler set before."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else SafeFormatter(_TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
