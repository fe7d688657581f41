"""The OCPI receiver counts and times every request by endpoint and method, bounded."""

from __future__ import annotations

from gridstream import metrics

from .conftest import Harness


def count(action: str) -> float:
    name = "gridstream_messages_in_total"
    return metrics.sample_values(name, {"protocol": "ocpi", "action": action}) or 0.0


def timed(action: str) -> float:
    name = "gridstream_answer_seconds_count"
    return metrics.sample_values(name, {"protocol": "ocpi", "action": action}) or 0.0


async def test_each_request_is_counted_and_timed_under_its_endpoint_and_method(
    harness: Harness,
) -> None:
    versions, credentials, other = count("versions GET"), count("credentials POST"), count("other")
    answered = timed("versions GET")
    await harness.client.get("/ocpi/versions", headers=harness.header(harness.token_a))
    await harness.client.get("/ocpi/versions")  # refused (no token): still a request in
    await harness.register()
    # A path of the partner's invention is one label, however many it invents.
    await harness.client.get("/ocpi/2.2.1/made-up-module/1")
    await harness.client.get("/ocpi/2.2.1/another-one")
    assert count("versions GET") == versions + 2
    assert timed("versions GET") == answered + 2
    assert count("credentials POST") == credentials + 1
    assert count("other") == other + 2
