"""Per-station rate limit (token bucket) and the limits' own sanity checks."""

from __future__ import annotations

import pytest

from connectors.ocpp.limits import OcppLimits, TokenBucket


def test_a_burst_passes_at_once_then_messages_wait_their_turn():
    bucket = TokenBucket(rate_per_s=4, burst=3, now_s=100.0)
    waits = [bucket.take(100.0) for _ in range(5)]
    # 3 tokens, then debt: the 4th waits 1/4 s, the 5th (also received at 100.0) 2/4 s
    assert waits == [0.0, 0.0, 0.0, 0.25, 0.5]


def test_a_steady_station_at_the_rate_never_waits():
    bucket = TokenBucket(rate_per_s=2, burst=1, now_s=0.0)
    assert [bucket.take(t / 2) for t in range(10)] == [0.0] * 10  # one every 0.5 s


def test_a_pause_refills_the_bucket_up_to_the_burst_only():
    bucket = TokenBucket(rate_per_s=10, burst=2, now_s=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    # an hour later: 2 tokens (the burst), not 36,000
    assert [bucket.take(3600.0) for _ in range(3)] == [0.0, 0.0, 0.1]


def test_a_clock_that_steps_back_gives_no_tokens():
    bucket = TokenBucket(rate_per_s=1, burst=1, now_s=10.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(5.0) == 1.0


def test_no_rate_means_no_bucket():
    assert OcppLimits().bucket(0.0) is None
    bucket = OcppLimits(messages_per_s=5, message_burst=7).bucket(0.0)
    assert bucket is not None and (bucket.rate_per_s, bucket.burst) == (5, 7)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"messages_per_s": 0}, "messages_per_s must be positive"),
        ({"message_burst": 0}, "message_burst must be at least 1"),
        ({"max_message_bytes": 100}, "below 1 KiB"),
    ],
)
def test_limits_that_cannot_work_are_refused(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        OcppLimits(**kwargs)
