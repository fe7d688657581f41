"""Which grid format a file is in, and the parser of each (``parse_as``).

``detect_format`` looks at the content first (an ENTSO-E root element or ZIP), then at the
file name's suffix; ``parse_as`` hands the bytes to that format's parser. Formats not
implemented yet are not offered (issue 14 lists the rest).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final, Literal, TypeAlias

from connectors.grid import elia, entsoe, signals_csv, tennet
from connectors.grid.result import Parsed

Format = Literal["entsoe", "tennet", "elia", "csv"]
Parser: TypeAlias = Callable[[bytes, datetime], Parsed]
"""``parser(data, received_at)``: a format's parser."""

PARSERS: Final[dict[Format, Parser]] = {
    "entsoe": entsoe.parse_document,
    "tennet": tennet.parse_imbalance_xml,
    "elia": elia.parse_records,
    "csv": signals_csv.parse_signals_csv,
}
FORMATS: Final[tuple[Format, ...]] = tuple(PARSERS)


def detect_format(name: str, data: bytes) -> Format | None:
    r"""The format of a file called ``name`` with content ``data``; None when unknown.

    >>> detect_format("prices.xml", b"<?xml version='1.0'?><Publication_MarketDocument/>")
    'entsoe'
    >>> detect_format("limits.csv", b"kind,scope_type,scope_id\n"), detect_format("x.bin", b"")
    ('csv', None)
    """
    if entsoe.looks_like(data):
        return "entsoe"
    if tennet.looks_like(data):
        return "tennet"
    if elia.looks_like(data):
        return "elia"
    if name.lower().endswith(".csv") or signals_csv.looks_like(data):
        return "csv"
    return None


def parse_as(fmt: Format, data: bytes, received_at: datetime) -> Parsed:
    """Parse ``data`` as ``fmt``; never raises for bad input."""
    return PARSERS[fmt](data, received_at)
