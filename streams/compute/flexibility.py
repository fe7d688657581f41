"""Flexibility of one charging session in the next period (DOMAIN.md, Flexibility of a session).

Pure arithmetic, no I/O. Powers in W, energies in Wh, times in hours. ``reduce`` and
``increase`` are named as DOMAIN.md asks ("up"/"down" mean opposite things to a TSO and a DSO).
"""

from __future__ import annotations

from typing import NamedTuple

PERIOD_H = 0.25


class SessionFlex(NamedTuple):
    """The session's power bounds for the next period and what it can give either way."""

    baseline_w: float
    p_lo_w: float
    p_hi_w: float
    reduce_w: float
    increase_w: float


def session_flexibility(
    *,
    hours_to_departure: float,
    energy_needed_wh: float,
    energy_room_wh: float,
    p_min_w: float,
    p_max_w: float,
    p_dis_w: float,
    baseline_w: float,
    can_pause: bool = True,
    period_h: float = PERIOD_H,
) -> SessionFlex:
    """Plo, Phi, reduce and increase of a session per DOMAIN.md.

    ``energy_needed_wh`` is E (to the target), ``energy_room_wh`` is Emax (what the battery can
    still take), ``hours_to_departure`` is T = d - t. A session past its departure (T <= 0) or
    already at target (E <= 0) offers only what V2X allows: it may go down to -Pdis, no higher
    than its baseline.
    """
    t, d, e = hours_to_departure, period_h, energy_needed_wh
    if t <= 0 or e <= 0:
        p_lo = -p_dis_w
        p_hi = min(baseline_w, p_max_w)
    else:
        if t <= d:
            p_lo = e / t
        else:
            p_lo = max(-p_dis_w, (e - p_max_w * (t - d)) / d)
        if not can_pause:
            p_lo = max(p_lo, p_min_w)
        p_hi = min(p_max_w, max(0.0, energy_room_wh) / d)
    return SessionFlex(
        baseline_w=baseline_w,
        p_lo_w=p_lo,
        p_hi_w=p_hi,
        reduce_w=max(0.0, baseline_w - p_lo),
        increase_w=max(0.0, p_hi - baseline_w),
    )
