"""The handshake decision: who may connect as which station, and what a reconnect costs."""

from __future__ import annotations

import asyncio
import base64
import threading

import pytest

from connectors.ocpp.auth import Authenticator, parse_basic_authorization
from connectors.ocpp.credentials import ScryptCost, StationCredential, hash_password

CHEAP = ScryptCost(log2_n=4)
SECRET = b"process-secret-for-the-cache!"


def basic(user: bytes | str, password: bytes | str) -> str:
    user = user.encode() if isinstance(user, str) else user
    password = password.encode() if isinstance(password, str) else password
    return "Basic " + base64.b64encode(user + b":" + password).decode()


@pytest.fixture
def authenticator() -> Authenticator:
    return Authenticator(
        {
            "CP-1": StationCredential(
                "CP-1", 1, hash_password(b"password-of-cp-1", b"s" * 16, CHEAP)
            ),
            "CP-2": StationCredential(
                "CP-2", 2, hash_password(b"password-of-cp-2", b"t" * 16, CHEAP)
            ),
        },
        secret=SECRET,
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic("CP-1", "pw:with:colons"), ("CP-1", b"pw:with:colons")),  # split at the first
        (basic("CP-1", b"\x00\xff\x10"), ("CP-1", b"\x00\xff\x10")),  # raw 1.6 key octets
        ("basic " + base64.b64encode(b"CP-1:x").decode(), ("CP-1", b"x")),  # scheme any case
        (basic("CP-1", ""), ("CP-1", b"")),
        ("Bearer abc", None),
        ("Basic", None),
        ("Basic !!!not-base64", None),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Basic " + base64.b64encode(b"\xff\xfe:pw").decode(), None),  # username not UTF-8
    ],
)
def test_basic_credentials_are_parsed_with_the_password_as_octets(header, expected):
    assert parse_basic_authorization(header) == expected


@pytest.mark.parametrize(
    ("station_id", "header", "tls", "refusal"),
    [
        ("CP-1", basic("CP-1", "password-of-cp-1"), False, None),
        ("CP-2", basic("CP-2", "password-of-cp-2"), True, None),
        ("CP-1", basic("CP-1", "password-of-cp-1"), True, None),  # profile 1 may use TLS
        ("CP-1", None, False, "missing_credentials"),
        ("CP-1", "Bearer x", False, "malformed_credentials"),
        ("CP-1", basic("CP-1", "password-of-cp-2"), False, "wrong_password"),
        ("CP-9", basic("CP-9", "password-of-cp-1"), False, "unknown_station"),
        # a station's own good credentials, used on another station's URL
        ("CP-1", basic("CP-2", "password-of-cp-2"), True, "username_mismatch"),
        # the right password, but a profile-2 station never comes without TLS
        ("CP-2", basic("CP-2", "password-of-cp-2"), False, "tls_required"),
    ],
)
async def test_a_handshake_is_accepted_only_for_the_right_station_password_and_transport(
    authenticator, station_id, header, tls, refusal
):
    result = await authenticator.authenticate(station_id, header, tls=tls)
    assert (result.station_id, result.refusal, result.accepted) == (
        station_id,
        refusal,
        refusal is None,
    )


async def test_a_reconnect_with_the_same_password_costs_no_kdf_run(authenticator):
    header = basic("CP-1", "password-of-cp-1")
    first = await authenticator.authenticate("CP-1", header, tls=False)
    again = [await authenticator.authenticate("CP-1", header, tls=False) for _ in range(5)]
    assert first.accepted and not first.cached
    assert all(r.accepted and r.cached for r in again)
    assert (authenticator.counters.kdf_checks, authenticator.counters.cache_hits) == (1, 5)


async def test_a_cached_success_does_not_let_another_password_in(authenticator):
    await authenticator.authenticate("CP-1", basic("CP-1", "password-of-cp-1"), tls=False)
    wrong = await authenticator.authenticate("CP-1", basic("CP-1", "guess-guess-guess"), tls=False)
    assert wrong.refusal == "wrong_password" and not wrong.cached


async def test_a_cached_success_still_requires_tls_for_a_profile_2_station(authenticator):
    header = basic("CP-2", "password-of-cp-2")
    assert (await authenticator.authenticate("CP-2", header, tls=True)).accepted
    plain = await authenticator.authenticate("CP-2", header, tls=False)
    assert (plain.refusal, plain.cached) == ("tls_required", False)  # refused before any check


async def test_a_station_retrying_a_stale_password_costs_one_kdf_run(authenticator):
    header = basic("CP-1", "the-old-password")
    results = [await authenticator.authenticate("CP-1", header, tls=False) for _ in range(4)]
    assert [r.refusal for r in results] == ["wrong_password"] * 4
    assert authenticator.counters.kdf_checks == 1
    assert (authenticator.counters.accepted, authenticator.counters.refused) == (0, 4)


async def test_a_failed_guess_on_another_url_does_not_lock_out_the_real_station(authenticator):
    # CP-2's password tried on CP-1's URL fails; CP-2 itself must still get in.
    await authenticator.authenticate("CP-1", basic("CP-1", "password-of-cp-2"), tls=True)
    assert (
        await authenticator.authenticate("CP-2", basic("CP-2", "password-of-cp-2"), tls=True)
    ).accepted


async def test_the_failure_cache_is_bounded(authenticator):
    small = Authenticator(authenticator.credentials, secret=SECRET, failure_cache_size=2)
    for guess in ("guess-1", "guess-2", "guess-3", "guess-1"):
        await small.authenticate("CP-1", basic("CP-1", guess), tls=False)
    # guess-1 was evicted by guess-3, so checking it again ran the KDF again
    assert small.counters.kdf_checks == 4


async def test_an_unknown_station_costs_a_kdf_run_like_a_wrong_password(authenticator):
    await authenticator.authenticate("CP-404", basic("CP-404", "whatever-password"), tls=False)
    assert authenticator.counters.kdf_checks == 1


def test_a_short_cache_secret_is_refused():
    with pytest.raises(ValueError, match="16 random bytes"):
        Authenticator({}, secret=b"short")


async def test_simultaneous_handshakes_with_the_same_password_share_one_kdf_run(authenticator):
    header = basic("CP-1", "password-of-cp-1")
    results = await asyncio.gather(
        *(authenticator.authenticate("CP-1", header, tls=False) for _ in range(5))
    )
    assert all(r.accepted for r in results)
    assert authenticator.counters.kdf_checks == 1


async def test_a_handshake_abandoned_mid_check_still_fills_the_cache(authenticator):
    header = basic("CP-1", "password-of-cp-1")
    abandoned = asyncio.create_task(authenticator.authenticate("CP-1", header, tls=False))
    await asyncio.sleep(0)  # the check has started
    abandoned.cancel()  # as websockets' open_timeout does
    retry = await authenticator.authenticate("CP-1", header, tls=False)
    assert retry.accepted
    assert authenticator.counters.kdf_checks == 1  # the retry used the first run's result


async def test_invented_credentials_cannot_queue_kdf_work_without_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each KDF run blocks until released, as a slow scrypt under a storm would: 20 new
    # (station, password) pairs at once find 3 checks queued at most, the rest are "busy"
    # at once; nothing is left running once the 3 finish.
    release = threading.Event()

    def slow_verify(password: bytes, password_hash: str) -> bool:
        release.wait(10)
        return False

    monkeypatch.setattr("connectors.ocpp.auth.verify_password", slow_verify)
    small = Authenticator({}, secret=SECRET, max_parallel=1, max_queued=3)
    attempts = [
        asyncio.create_task(small.authenticate(f"X{n}", basic(f"X{n}", f"p{n}"), tls=True))
        for n in range(20)
    ]
    await asyncio.sleep(0)  # every attempt reached its decision or its queue
    async with asyncio.timeout(10):
        while sum(a.done() for a in attempts) < 17:
            await asyncio.sleep(0.01)
    assert len(small._running) == 3
    release.set()
    results = await asyncio.gather(*attempts)
    refusals = [r.refusal for r in results]
    assert refusals.count("busy") == 17 and refusals.count("unknown_station") == 3
    assert small._running == {} and small.counters.kdf_checks == 3


async def test_a_profile_2_station_without_tls_is_refused_before_any_kdf(
    authenticator: Authenticator,
) -> None:
    result = await authenticator.authenticate("CP-2", basic("CP-2", "password-of-cp-2"), tls=False)
    assert (result.refusal, authenticator.counters.kdf_checks) == ("tls_required", 0)
