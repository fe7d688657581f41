"""Simulated time, running ``speed`` times faster than a real monotonic clock.

``SimClock(start, speed, monotonic)`` anchors simulated ``start`` at the real instant it is
created: after ``r`` real seconds the simulated time is ``start + r x speed`` seconds. At
``speed=60`` one simulated minute passes per real second. The real clock is injected (a
function returning monotonic seconds), so tests can drive it by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeAlias

Monotonic: TypeAlias = Callable[[], float]
"""Real monotonic seconds, e.g. ``time.monotonic``."""


class SimClock:
    """Maps real monotonic seconds to simulated aware datetimes and back."""

    def __init__(self, start: datetime, speed: float, monotonic: Monotonic) -> None:
        """Simulated ``start`` is now; ``speed`` simulated seconds pass per real second."""
        if not speed > 0 or speed == float("inf"):
            raise ValueError(f"speed {speed} must be a positive finite number")
        self.start = start
        self.speed = speed
        self._monotonic = monotonic
        self._real_start = monotonic()

    def now(self) -> datetime:
        """The simulated time now."""
        return self.start + timedelta(seconds=(self._monotonic() - self._real_start) * self.speed)

    def real_seconds_until(self, t: datetime) -> float:
        """Real seconds until simulated ``t`` (negative when it has passed).

        With speed 60, simulated 10:05 is 300 real seconds after simulated 10:00.
        """
        due_s = (t - self.start).total_seconds() / self.speed
        return due_s - (self._monotonic() - self._real_start)
