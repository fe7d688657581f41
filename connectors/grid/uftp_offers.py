"""A UFTP FlexOffer answering a DSO's FlexRequest from the flexibility on offer in its area.

The flexibility is computed by the stream (``streams.compute.flex_offers``); this module
only says it in UFTP's terms, so it lives with the UFTP connector.

For each ISP the DSO requested (``Disposition="Requested"``), the offer comes from the
latest ``FlexOffer`` record of the congestion area for that settlement period (the sums of
the area's sessions, ``streams.compute.flex_offers``):

- a request to reduce consumption (both bounds <= 0, the usual case) is offered
  ``-min(reduce_w, -MinPower)``: as much of the reduction as the sessions can give, never
  more than the DSO asks for at most;
- a request to increase (both bounds >= 0) is offered ``min(increase_w, MaxPower)``;
- a request that spans zero names no direction, and a period with no flexibility (or no
  figures) gets nothing.

An offer smaller than ``|MaxPower|`` (the least the DSO asks for) is still made: several
aggregators may serve one congestion point, and the DSO decides (FlexOffer, "an offer for
provision of flexibility"). Consecutive ISPs with the same power become one ISP element
with a ``Duration``. The asking price is the offered energy times a configured price per
MWh. The offer is valid until the request expires. None when nothing can be offered.
Pure: no I/O, the message id and the clock come from the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from shapeshifter_uftp import FlexOffer as UftpFlexOffer
from shapeshifter_uftp import FlexOfferOption, FlexOfferOptionISP, FlexRequest
from shapeshifter_uftp.uftp import AvailableRequested

from connectors.grid.uftp import request_grid
from gridstream.records import FlexOffer

_CENT = Decimal("0.01")


def offered_power_w(min_power: int, max_power: int, area: FlexOffer | None) -> int:
    """The power (W, UFTP sign) offered for one requested ISP; 0 when none (module docstring).

    >>> area = FlexOffer.model_construct(reduce_w=32_400.0, increase_w=5_000.0)
    >>> offered_power_w(-50_000, -10_000, area), offered_power_w(0, 20_000, area)
    (-32400, 5000)
    >>> offered_power_w(-20_000, -10_000, area), offered_power_w(-5_000, 5_000, area)
    (-20000, 0)
    """
    if area is None:
        return 0
    if max_power <= 0 and min_power < 0:
        return -int(min(area.reduce_w, -min_power))
    if min_power >= 0 and max_power > 0:
        return int(min(area.increase_w, max_power))
    return 0


def answer_flex_request(
    request: FlexRequest,
    area_offers: Mapping[datetime, FlexOffer],
    *,
    price_per_mwh: Decimal,
    currency: str,
    message_id: str,
    now: datetime,
) -> UftpFlexOffer | None:
    """The FlexOffer answering ``request``, from the area's offers by period start (UTC).

    ``area_offers`` holds the latest ``FlexOffer`` record of the request's congestion area
    per settlement period. ``UftpRejection`` when the request breaks a message rule.
    """
    grid = request_grid(request)
    powers: dict[int, int] = {}
    for isp in request.isps:
        if isp.disposition != AvailableRequested.REQUESTED:
            continue
        for number in range(isp.start, isp.start + isp.duration):
            start, _ = grid.interval(number)
            power = offered_power_w(isp.min_power, isp.max_power, area_offers.get(start))
            if power:
                powers[number] = power
    if not powers:
        return None
    hours = Decimal(grid.isp.total_seconds()) / 3600
    mwh = sum(abs(p) for p in powers.values()) * hours / 1_000_000
    return UftpFlexOffer(
        recipient_domain=request.sender_domain,
        time_stamp=now.isoformat(),
        message_id=message_id,
        conversation_id=request.conversation_id,
        isp_duration=request.isp_duration,
        time_zone=request.time_zone,
        period=request.period,
        congestion_point=request.congestion_point,
        expiration_date_time=request.expiration_date_time,
        unsolicited=False,
        flex_request_message_id=request.message_id,
        contract_id=request.contract_id,
        currency=currency,
        offer_options=[
            FlexOfferOption(
                isps=_runs(powers),
                option_reference=message_id,  # one option; the library wants it named
                price=(mwh * price_per_mwh).quantize(_CENT, ROUND_HALF_UP),
            )
        ],
    )


def _runs(powers: Mapping[int, int]) -> list[FlexOfferOptionISP]:
    """ISP elements for ``powers`` by ISP number: a run of equal powers is one element."""
    isps: list[FlexOfferOptionISP] = []
    for number in sorted(powers):
        last = isps[-1] if isps else None
        if last and last.start + last.duration == number and last.power == powers[number]:
            last.duration += 1
        else:
            isps.append(FlexOfferOptionISP(power=powers[number], start=number, duration=1))
    return isps
