"""Bounds on what one station may cost the connector: frame size, message rate, handshakes.

- Frame size: websockets' ``max_size``. A bigger frame closes that connection with 1009
  (message too big); the station reconnects and, if it sends it again, is closed again, so
  the log line names the station and the limit to raise.
- Message rate per station: a token bucket (``messages_per_s``, ``burst``). Over the rate,
  the connector delays reading that station's next frame rather than refusing it: nothing
  is lost, because an OCPP station has one CALL outstanding and waits for its answer, and a
  station that does not wait fills websockets' receive buffer, which then stops reading its
  socket (TCP backpressure). Throttled frames are counted.
- Handshake: ``open_timeout_s`` bounds the time from TCP accept to the end of the HTTP
  upgrade (TLS and password check included); ``max_connections`` answers 503 beyond it.
- Memory per station id: ``max_stations`` bounds how many stations the connector remembers
  (session memory, rate bucket). Beyond it the least recently seen station that is not
  connected is forgotten, so that invented station ids (profile 0 lets any id connect)
  cannot grow the connector without bound; a forgotten station that comes back starts
  afresh (its re-sent messages are then kept twice, and the warehouse shows them once).

``TokenBucket`` is pure: the shell hands it a monotonic time in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Default largest frame: an OCPP frame of a few hundred readings fits in a few KiB.
DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class OcppLimits:
    """The connector's bounds; None means unbounded.

    ``messages_per_s`` None: no rate limit (the default of ``serve_ocpp``, so that tests and
    benchmarks measure the connector, not the limit; ``gridstream run`` sets one).
    """

    max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES
    messages_per_s: float | None = None
    message_burst: int = 200
    open_timeout_s: float | None = 10.0
    max_connections: int | None = None
    max_stations: int = 100_000

    def __post_init__(self) -> None:
        """Refuse bounds that cannot work."""
        if self.messages_per_s is not None and self.messages_per_s <= 0:
            raise ValueError("messages_per_s must be positive (or None: no limit)")
        if self.max_stations < 1:
            raise ValueError("max_stations must be at least 1")
        if self.message_burst < 1:
            raise ValueError("message_burst must be at least 1")
        if self.max_message_bytes is not None and self.max_message_bytes < 1024:
            raise ValueError("max_message_bytes below 1 KiB would refuse ordinary frames")

    def bucket(self, now_s: float) -> TokenBucket | None:
        """A full bucket for a new station, or None when the rate is not limited."""
        if self.messages_per_s is None:
            return None
        return TokenBucket(self.messages_per_s, self.message_burst, now_s)


class TokenBucket:
    """Allows ``burst`` messages at once and ``rate_per_s`` on average.

    ``take(now_s)`` spends one token and returns how long to wait before handling the
    message (0 when a token was there). The wait pays the debt, so a station that keeps
    sending gets exactly ``rate_per_s`` messages per second.

    >>> bucket = TokenBucket(rate_per_s=2, burst=2, now_s=0.0)
    >>> [bucket.take(0.0), bucket.take(0.0), bucket.take(0.0)]  # 2 in the burst, then 1/2 s
    [0.0, 0.0, 0.5]
    >>> bucket.take(0.5)  # the third was handled at 0.5 s; the fourth is due at 1.0 s
    0.5
    >>> bucket.take(10.0)  # a pause refills the bucket (up to the burst)
    0.0
    """

    def __init__(self, rate_per_s: float, burst: int, now_s: float) -> None:
        """A full bucket at ``now_s`` (monotonic seconds)."""
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = float(burst)
        self._at_s = now_s

    def take(self, now_s: float) -> float:
        """Spend a token at ``now_s``; seconds to wait before handling the message."""
        elapsed = max(0.0, now_s - self._at_s)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
        self._at_s = now_s
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s
