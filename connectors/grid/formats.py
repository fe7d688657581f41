"""Which grid format a file is in, and the parser of each (``parse_as``).

``detect_format`` looks at the content first (an ENTSO-E root element or ZIP), then at the
file name's suffix; ``parse_as`` hands the bytes to that format's parser. Formats not
implemented yet are not offered (issue 14 lists the rest).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final, Literal, TypeAlias

from connectors.grid import elia, entsoe, openadr3, p1, signals_csv, tennet, uftp
from connectors.grid.result import Parsed, rejected

Format = Literal["entsoe", "openadr3", "tennet", "elia", "p1", "uftp", "csv"]
Parser: TypeAlias = Callable[[bytes, datetime], Parsed]
"""``parser(data, received_at)``: a format's parser."""
#: Formats whose documents do not name their site: ``parse_as`` needs ``site_id``.
NEEDS_SITE: Final[frozenset[Format]] = frozenset({"p1"})

#: The parsers of the formats that name their scopes themselves.
PARSERS: Final[dict[Format, Parser]] = {
    "entsoe": entsoe.parse_document,
    "tennet": tennet.parse_imbalance_xml,
    "elia": elia.parse_records,
    "uftp": uftp.parse_flex_requests,
    "csv": signals_csv.parse_signals_csv,
}
FORMATS: Final[tuple[Format, ...]] = ("entsoe", "openadr3", "tennet", "elia", "p1", "uftp", "csv")


def detect_format(name: str, data: bytes) -> Format | None:
    r"""The format of a file called ``name`` with content ``data``; None when unknown.

    >>> detect_format("prices.xml", b"<?xml version='1.0'?><Publication_MarketDocument/>")
    'entsoe'
    >>> detect_format("limits.csv", b"kind,scope_type,scope_id\n"), detect_format("x.bin", b"")
    ('csv', None)
    """
    if entsoe.looks_like(data):
        return "entsoe"
    if openadr3.looks_like(data):
        return "openadr3"
    if tennet.looks_like(data):
        return "tennet"
    if elia.looks_like(data):
        return "elia"
    if p1.looks_like(data):
        return "p1"
    if uftp.looks_like(data):
        return "uftp"
    if name.lower().endswith(".csv") or signals_csv.looks_like(data):
        return "csv"
    return None


def parse_as(fmt: Format, data: bytes, received_at: datetime, site_id: str | None = None) -> Parsed:
    """Parse ``data`` as ``fmt``; never raises for bad input.

    ``site_id`` is the site of a format in ``NEEDS_SITE`` (a P1 telegram names no site);
    without it such a document is rejected. For OpenADR 3 it is the site of events that
    target none.
    """
    if fmt == "openadr3":
        return openadr3.parse_events(data, received_at, site_id)
    if fmt == "p1":
        if not site_id:
            return rejected(
                "malformed_document",
                f"a {fmt} document does not name its site: give the site id (--site)",
                data.decode("utf-8", errors="replace")[:2000],
            )
        return p1.parse_telegrams(data, received_at, site_id)
    return PARSERS[fmt](data, received_at)
