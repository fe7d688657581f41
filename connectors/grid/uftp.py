"""UFTP (Shapeshifter) FlexRequests of a DSO to grid signals, for the congestion point named.

A FlexRequest (GRID.md 3.3) asks the aggregators at one congestion point to deviate from
their baseline in some ISPs of one day (``Period``, local to ``TimeZone``): each ``ISP``
element covers ``Duration`` ISPs from ``Start`` (the first ISP of the day is 1) and gives
``MinPower`` and ``MaxPower`` in W, positive towards the prosumer (consumption).
``Disposition="Requested"`` is the DSO's need (a reduction when the powers are negative),
``"Available"`` the room left in the other ISPs.

Each ISP element becomes two signals on ``grid.signals`` for the congestion area named by
the ``CongestionPoint`` entity address, as written (``ean.871685900012636543``; a site's
``congestion_area`` in the sites file uses the same text): ``flex_request_min_power`` and
``flex_request_max_power`` for a requested ISP, ``flex_available_min_power`` and
``flex_available_max_power`` for an available one. ``document_id`` is the MessageID,
``revision`` the request's Revision, ``source`` ``uftp/<sender domain>``.

ISP *n* starts (n-1) ISP durations after local midnight in elapsed time (so in UTC), as
TenneT's PTUs do: a day on which the clocks change has 92 or 100 quarter-hours. A request
that breaks the message rules (message-validation.md: "ISP conflict", "ISPs out of
bounds", "ISP duration rejected", "TimeZone rejected") is refused whole, with the UFTP
rejection reason in the detail (the answer to the DSO carries it). No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shapeshifter_uftp import FlexRequest, transport
from shapeshifter_uftp.uftp import AvailableRequested
from xsdata.exceptions import ParserError

from connectors.grid.result import Parsed, Rejected, rejected
from gridstream.periods import fixed_duration
from gridstream.records import GridSignal, GridSignalKind

SOURCE_PREFIX: Final = "uftp/"
_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?<(?:\w+:)?FlexRequest[\s>/]")
_KINDS: Final[dict[AvailableRequested, tuple[GridSignalKind, GridSignalKind]]] = {
    AvailableRequested.REQUESTED: ("flex_request_min_power", "flex_request_max_power"),
    AvailableRequested.AVAILABLE: ("flex_available_min_power", "flex_available_max_power"),
}
#: Our reason code for each UFTP rejection reason (message-validation.md).
UFTP_REASONS: Final[dict[str, str]] = {
    "Invalid Message": "malformed_document",
    "ISP conflict": "malformed_document",
    "ISPs out of bounds": "malformed_document",
    "ISP duration rejected": "bad_resolution",
    "TimeZone rejected": "malformed_document",
    "Invalid CongestionPoint": "unknown_area",
}


class UftpRejection(Exception):
    """A FlexRequest breaks a UFTP message rule; ``uftp_reason`` is the spec's wording."""

    def __init__(self, uftp_reason: str, detail: str) -> None:
        super().__init__(f"{uftp_reason}: {detail}")
        self.uftp_reason = uftp_reason
        self.detail = detail

    def rejected(self, raw: str) -> Rejected:
        """The parser's ``Rejected`` for it (our reason code; UFTP's in the detail)."""
        return Rejected(UFTP_REASONS[self.uftp_reason], f"UFTP {self}", raw)


@dataclass(frozen=True)
class IspGrid:
    """The ISPs of one local day: where ISP 1 starts (UTC), how long each is, how many."""

    first_start: datetime
    isp: timedelta
    count: int

    def interval(self, start: int, duration: int = 1) -> tuple[datetime, datetime]:
        """UTC ``[start, end)`` of ``duration`` ISPs from ISP ``start`` (1-based)."""
        begin = self.first_start + (start - 1) * self.isp
        return begin, begin + duration * self.isp


def isp_grid(period: date, time_zone: str, isp_duration: str) -> IspGrid:
    """The ISP grid of ``period`` in ``time_zone`` with ISPs of ``isp_duration``.

    >>> grid = isp_grid(date(2026, 10, 25), "Europe/Amsterdam", "PT15M")  # clocks go back
    >>> grid.count, grid.interval(1)[0].isoformat(), grid.interval(13)[0].isoformat()
    (100, '2026-10-24T22:00:00+00:00', '2026-10-25T01:00:00+00:00')

    Raises ``UftpRejection`` for an unknown zone or an ISP length that does not tile the day.
    """
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UftpRejection("TimeZone rejected", f"unknown time zone {time_zone!r}") from None
    isp = fixed_duration(isp_duration)
    midnight = datetime(period.year, period.month, period.day, tzinfo=zone).astimezone(UTC)
    following = period + timedelta(days=1)
    next_midnight = datetime(following.year, following.month, following.day, tzinfo=zone)
    day = next_midnight.astimezone(UTC) - midnight
    if isp is None or isp < timedelta(minutes=1) or isp % timedelta(minutes=1) or day % isp:
        raise UftpRejection(
            "ISP duration rejected",
            f"ISP-Duration {isp_duration!r} is not a whole number of minutes that tiles the day",
        )
    return IspGrid(midnight, isp, day // isp)


def looks_like(data: bytes) -> bool:
    """Whether ``data`` is probably a UFTP FlexRequest (its root element)."""
    return _ROOT.match(data[:512]) is not None


def read_flex_request(data: bytes | str) -> FlexRequest:
    """The FlexRequest in ``data`` (its XML); ``UftpRejection`` when it is not one."""
    try:
        message = transport.from_xml(data.encode() if isinstance(data, str) else data)
    except (ParserError, TypeError, ValueError) as exc:
        raise UftpRejection("Invalid Message", f"not a UFTP message: {exc}") from None
    if not isinstance(message, FlexRequest):
        raise UftpRejection(
            "Invalid Message", f"a {type(message).__name__}, not a FlexRequest"
        ) from None
    return message


def request_grid(request: FlexRequest) -> IspGrid:
    """The ISP grid of ``request``'s day, after checking its ISPs (``UftpRejection``)."""
    period = date(request.period.year, request.period.month, request.period.day)
    grid = isp_grid(period, request.time_zone, str(request.isp_duration))
    if not request.isps:
        raise UftpRejection("ISPs out of bounds", "a FlexRequest needs at least one ISP")
    seen: set[int] = set()
    for isp in request.isps:
        last = isp.start + isp.duration - 1
        if isp.start < 1 or isp.duration < 1 or last > grid.count:
            raise UftpRejection(
                "ISPs out of bounds",
                f"ISP Start={isp.start} Duration={isp.duration} is outside ISPs 1..{grid.count} "
                f"of {period.isoformat()}",
            )
        covered = set(range(isp.start, last + 1))
        if covered & seen:
            raise UftpRejection(
                "ISP conflict", f"ISP {min(covered & seen)} is addressed more than once"
            )
        seen |= covered
    if not any(i.disposition == AvailableRequested.REQUESTED for i in request.isps):
        raise UftpRejection("Invalid Message", "no ISP has Disposition=Requested")
    return grid


def flex_request_signals(request: FlexRequest, received_at: datetime) -> tuple[GridSignal, ...]:
    """The grid signals of a checked FlexRequest (module docstring); ``UftpRejection`` if bad."""
    grid = request_grid(request)
    signals: list[GridSignal] = []
    for isp in request.isps:
        start, end = grid.interval(isp.start, isp.duration)
        kinds = _KINDS[isp.disposition or AvailableRequested.REQUESTED]
        for kind, value in zip(kinds, (isp.min_power, isp.max_power), strict=True):
            signals.append(
                GridSignal(
                    kind=kind,
                    scope_type="congestion_area",
                    scope_id=request.congestion_point,
                    interval_start=start,
                    interval_end=end,
                    resolution=str(request.isp_duration),
                    value=float(value),
                    unit="W",
                    source=f"{SOURCE_PREFIX}{request.sender_domain}",
                    document_id=str(request.message_id),
                    revision=request.revision,
                    received_at=received_at,
                )
            )
    return tuple(signals)


def parse_flex_requests(data: bytes, received_at: datetime) -> Parsed:
    """The signals of a FlexRequest file (its XML, unsigned); a rejection when it is bad."""
    raw = data.decode("utf-8", errors="replace")
    try:
        return Parsed(signals=flex_request_signals(read_flex_request(data), received_at))
    except UftpRejection as exc:
        return Parsed(rejected=(exc.rejected(raw),))
    except (TypeError, ValueError) as exc:  # a field the library left unchecked
        return rejected("malformed_document", f"UFTP Invalid Message: {exc}", raw)
