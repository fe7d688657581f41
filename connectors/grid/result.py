"""What a grid parser returns: the signals it read and what it could not accept.

Parsing returns values (STYLE.md rule 17): one document can give signals and rejections
at once (one bad TimeSeries does not cost the others), so a parser returns ``Parsed``; the
shell publishes the signals and sends each ``Rejected`` to the dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridstream.errors import reason
from gridstream.records import DeadLetter, GridSignal

#: Dead letters keep at most this much of the raw input (a year of prices is megabytes).
MAX_RAW_CHARS = 64_000


@dataclass(frozen=True)
class Rejected:
    """Input a parser could not accept, with a reason code of the one catalogue.

    ``detail`` says where and what; ``raw`` is the input (or the part of it) refused.
    """

    reason: str
    detail: str
    raw: str

    def __post_init__(self) -> None:
        """Refuse a reason code that is not in the catalogue (a bug in the parser)."""
        reason(self.reason)

    def to_dead_letter(self, source: str, received_at: datetime) -> DeadLetter:
        """The dead letter for the ``dlq`` topic; ``source`` names the feed or file."""
        return DeadLetter(
            source=source,
            reason=self.reason,
            detail=self.detail,
            raw=self.raw[:MAX_RAW_CHARS],
            received_at=received_at,
        )


@dataclass(frozen=True)
class Parsed:
    """Signals read from one input, and the parts of it that were rejected."""

    signals: tuple[GridSignal, ...] = ()
    rejected: tuple[Rejected, ...] = ()

    def __add__(self, other: Parsed) -> Parsed:
        return Parsed(self.signals + other.signals, self.rejected + other.rejected)


class Unreadable(Exception):
    """Raised inside a parser where a part of its input cannot be read, and caught by it.

    Carries the reason code and the detail of the ``Rejected`` the parser returns for that
    part; it never leaves the parser (bad input is returned, not raised: STYLE.md rule 17).
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def rejected(code: str, detail: str, raw: str) -> Parsed:
    """A ``Parsed`` with nothing accepted and one rejection."""
    return Parsed(rejected=(Rejected(code, detail, raw),))
