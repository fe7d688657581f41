"""The ENTSO-E Transparency Platform RESTful API: day-ahead and imbalance prices by query.

``query_params`` builds a request (pure; GRID.md 1.1): ``documentType=A44`` with
``in_Domain`` = ``out_Domain`` = the bidding zone and ``contract_MarketAgreement.type=A01``
(daily auction), or ``documentType=A85`` with ``controlArea_Domain``; ``periodStart`` and
``periodEnd`` as ``yyyyMMddHHmm`` in UTC. A span longer than the API's one year per request
is split (``split_span``). ``EntsoeClient`` (the shell) sends them with the security token and
hands the body, XML or ZIP, to ``entsoe.parse_document``: an acknowledgement (no data,
refused request; answered with HTTP 200 or 400) becomes a rejection there, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

import aiohttp

from connectors.grid.entsoe import parse_document
from connectors.grid.result import Parsed
from gridstream.errors import GridstreamError

API_URL: Final = "https://web-api.tp.entsoe.eu/api"
#: The API answers at most one year of a time series per request.
MAX_SPAN: Final = timedelta(days=365)
DocumentType = Literal["A44", "A85"]


class EntsoeApiError(GridstreamError):
    """The API could not be reached or answered neither a document nor an acknowledgement.

    HTTP 401: check ``GRIDSTREAM_ENTSOE_TOKEN``; 429: more than 400 requests a minute (the
    token is then banned for 10 minutes).
    """


@dataclass(frozen=True)
class EntsoeQuery:
    """One request: a document type for an area (EIC) over ``[start, end)`` (aware, UTC)."""

    document_type: DocumentType
    area: str
    start: datetime
    end: datetime


def query_params(query: EntsoeQuery, token: str) -> dict[str, str]:
    """The API's query parameters for ``query`` (names are case sensitive).

    >>> t = datetime(2024, 10, 7, 22, tzinfo=UTC)
    >>> query_params(EntsoeQuery("A85", "10YBE----------2", t, t + timedelta(hours=1)), "tok")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'securityToken': 'tok', 'documentType': 'A85', 'periodStart': '202410072200',
     'periodEnd': '202410072300', 'controlArea_Domain': '10YBE----------2'}
    """
    params = {
        "securityToken": token,
        "documentType": query.document_type,
        "periodStart": query.start.astimezone(UTC).strftime("%Y%m%d%H%M"),
        "periodEnd": query.end.astimezone(UTC).strftime("%Y%m%d%H%M"),
    }
    if query.document_type == "A44":
        params |= {
            "in_Domain": query.area,
            "out_Domain": query.area,
            "contract_MarketAgreement.type": "A01",
        }
    else:
        params["controlArea_Domain"] = query.area
    return params


def split_span(query: EntsoeQuery, span: timedelta = MAX_SPAN) -> list[EntsoeQuery]:
    """``query`` as consecutive queries of at most ``span`` each, covering ``[start, end)``.

    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> query = EntsoeQuery("A44", "X", t, t + 2 * MAX_SPAN + timedelta(days=1))
    >>> [(q.start.date().isoformat(), q.end.date().isoformat()) for q in split_span(query)]
    [('2024-01-01', '2024-12-31'), ('2024-12-31', '2025-12-31'), ('2025-12-31', '2026-01-01')]
    """
    out = []
    start = query.start
    while start < query.end:
        end = min(start + span, query.end)
        out.append(EntsoeQuery(query.document_type, query.area, start, end))
        start = end
    return out


class EntsoeClient:
    """Sends queries to the API with the security token (the shell; it is handed its session)."""

    def __init__(self, session: aiohttp.ClientSession, token: str, url: str = API_URL) -> None:
        """A client of ``url`` using ``session``."""
        self._session = session
        self._token = token
        self._url = url

    async def fetch(self, query: EntsoeQuery, received_at: datetime) -> Parsed:
        """Signals (and rejections) of ``query``, split by year; raises ``EntsoeApiError``."""
        out = Parsed()
        for part in split_span(query):
            params = query_params(part, self._token)
            async with self._session.get(self._url, params=params) as answer:
                body = await answer.read()
                # An acknowledgement comes with 200 or 400: the parser makes it a rejection.
                if answer.status not in (200, 400) or (
                    answer.status == 400 and b"Acknowledgement_MarketDocument" not in body
                ):
                    raise EntsoeApiError(
                        f"ENTSO-E API {part.document_type} {part.area}: HTTP {answer.status} "
                        f"{body[:200]!r}"
                    )
            out += parse_document(body, received_at)
        return out
