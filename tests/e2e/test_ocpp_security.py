"""OCPP security profiles 1 and 2 and the connector's bounds, over real websockets.

Stations are the ``ocpp`` package's ChargePoints and plain ``websockets`` clients on
127.0.0.1; TLS uses a throwaway CA and certificate made with ``trustme``. The broker is
an in-memory recorder: what is under test is who gets in and what a station may cost.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import ssl
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import trustme
import websockets
from ocpp import v16, v201
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from connectors.ocpp.auth import Authenticator
from connectors.ocpp.credentials import StationCredential, hash_password, password_octets
from connectors.ocpp.limits import OcppLimits
from connectors.ocpp.security import server_ssl_context
from connectors.ocpp.server import OcppServer, serve_ocpp
from gridstream.records import DeadLetter, Record
from gridstream.registry import SiteRegistry

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)
TIMEOUT_S = 30  # a loaded 2-core machine: generous, never part of an assertion
PASSWORD_1 = "Profile1-password.of:CP-1"  # a 2.x BasicAuthPassword
PASSWORD_2 = "Profile2-password|of@CP-2*"
KEY_16 = "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567"  # 1.6 AuthorizationKey, 20 octets


class Recorder:
    """The broker stand-in: keeps what was published and dead-lettered."""

    def __init__(self) -> None:
        self.published: list[Record] = []
        self.dead: list[DeadLetter] = []

    async def publish(self, records: Sequence[Record]) -> None:
        self.published.extend(records)

    async def dead_letter(self, letter: DeadLetter) -> None:
        self.dead.append(letter)


def credential(station_id: str, profile: int, password: str, *, hex_key: bool = False):
    octets = password_octets(password, hex_key=hex_key)
    return StationCredential(station_id, profile, hash_password(octets, secrets.token_bytes(16)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def authenticator_credentials() -> dict[str, StationCredential]:
    # Hashed once per module: each hash is a real scrypt run (~50 ms).
    return {
        c.station_id: c
        for c in (
            credential("CP-1", 1, PASSWORD_1),
            credential("CP-2", 2, PASSWORD_2),
            credential("CP-16", 1, KEY_16, hex_key=True),
        )
    }


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca, tmp_path) -> ssl.SSLContext:
    """The server's context as gridstream builds it: from PEM files."""
    leaf = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    key_file.write_bytes(leaf.private_key_pem.bytes())
    return server_ssl_context(Path(cert_file), Path(key_file))


@pytest.fixture
def client_tls(ca) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@contextlib.asynccontextmanager
async def running(
    recorder: Recorder,
    credentials: dict[str, StationCredential] | None = None,
    tls: ssl.SSLContext | None = None,
    limits: OcppLimits | None = None,
) -> AsyncIterator[OcppServer]:
    authenticator = (
        Authenticator(credentials, secret=secrets.token_bytes(32)) if credentials else None
    )
    server = await serve_ocpp(
        "127.0.0.1",
        0,
        publish=recorder.publish,
        dead_letter=recorder.dead_letter,
        registry=SiteRegistry(),
        now=lambda: NOW,
        id_token_key=b"security-test-key",
        authenticator=authenticator,
        ssl_context=tls,
        limits=limits,
    )
    async with server:
        yield server


def basic(user: str, password: str | bytes) -> dict[str, str]:
    raw = password.encode() if isinstance(password, str) else password
    return {"Authorization": "Basic " + base64.b64encode(user.encode() + b":" + raw).decode()}


def url(server: OcppServer, station_id: str, scheme: str = "ws") -> str:
    return f"{scheme}://127.0.0.1:{server.port}/ocpp/{station_id}"


async def boot16(ws) -> str:
    """A BootNotification from an ``ocpp`` 1.6 ChargePoint over ``ws``; its status."""
    cp = v16.ChargePoint("cp", ws, response_timeout=TIMEOUT_S)
    task = asyncio.create_task(cp.start())
    try:
        result = await cp.call(
            call16.BootNotification(charge_point_model="M", charge_point_vendor="V"),
            suppress=False,
        )
        return str(result.status)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await task


async def refused_status(connect_url: str, headers: dict[str, str] | None, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(
            connect_url, subprotocols=["ocpp1.6"], additional_headers=headers, **kwargs
        ):
            pass
    response = caught.value.response
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == (
            'Basic realm="gridstream OCPP", charset="UTF-8"'
        )
        assert response.body == b"authentication failed\n"  # the same, whatever the reason
    return response.status_code


@pytest.mark.parametrize(
    ("station_id", "headers"),
    [
        ("CP-404", basic("CP-404", PASSWORD_1)),  # unknown station
        ("CP-1", basic("CP-1", "Wrong-password-for-CP-1")),  # wrong password
        ("CP-1", basic("CP-16", KEY_16)),  # another station's good credentials
        ("CP-1", basic("CP-1", PASSWORD_2)),  # another station's password
        ("CP-1", None),  # no Authorization header
        ("CP-1", {"Authorization": "Bearer " + PASSWORD_1}),  # not Basic
    ],
    ids=["unknown", "wrong", "other-station", "other-password", "missing", "not-basic"],
)
async def test_bad_or_missing_credentials_are_refused_401_at_the_handshake(
    authenticator_credentials, station_id, headers
):
    recorder = Recorder()
    async with running(recorder, authenticator_credentials) as server:
        assert await refused_status(url(server, station_id), headers) == 401
        assert server.counters.auth_refused == 1
    assert recorder.published == [] and recorder.dead == []


async def test_the_right_password_lets_an_ocpp_charge_point_in(authenticator_credentials):
    async with running(Recorder(), authenticator_credentials) as server:
        async with websockets.connect(
            url(server, "CP-1"),
            subprotocols=["ocpp1.6"],
            additional_headers=basic("CP-1", PASSWORD_1),
        ) as ws:
            assert await boot16(ws) == "Accepted"


async def test_credentials_in_the_url_work_as_a_station_library_sends_them(
    authenticator_credentials,
):
    async with running(Recorder(), authenticator_credentials) as server:
        password = quote(PASSWORD_1, safe="")
        with_user = f"ws://CP-1:{password}@127.0.0.1:{server.port}/ocpp/CP-1"
        async with websockets.connect(with_user, subprotocols=["ocpp1.6"]) as ws:
            assert await boot16(ws) == "Accepted"


@pytest.mark.parametrize(
    "password",
    [bytes.fromhex(KEY_16), KEY_16.encode(), KEY_16.lower().encode()],
    ids=["raw-octets", "hex-text", "hex-text-lower"],
)
async def test_a_16_authorization_key_is_accepted_as_octets_or_hex_text(
    authenticator_credentials, password
):
    async with running(Recorder(), authenticator_credentials) as server:
        async with websockets.connect(
            url(server, "CP-16"),
            subprotocols=["ocpp1.6"],
            additional_headers=basic("CP-16", password),
        ) as ws:
            assert await boot16(ws) == "Accepted"


async def test_a_reconnect_is_checked_from_the_cache(authenticator_credentials):
    async with running(Recorder(), authenticator_credentials) as server:
        for _ in range(3):
            async with websockets.connect(
                url(server, "CP-1"),
                subprotocols=["ocpp1.6"],
                additional_headers=basic("CP-1", PASSWORD_1),
            ):
                pass
        authenticator = server.authenticator
        assert authenticator is not None
        assert (authenticator.counters.kdf_checks, authenticator.counters.cache_hits) == (1, 2)


async def test_profile_2_station_connects_over_tls_with_its_password(
    authenticator_credentials, server_tls, client_tls
):
    async with running(Recorder(), authenticator_credentials, tls=server_tls) as server:
        async with websockets.connect(
            url(server, "CP-2", "wss"),
            subprotocols=["ocpp2.0.1"],
            additional_headers=basic("CP-2", PASSWORD_2),
            ssl=client_tls,
        ) as ws:
            assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
            cp = v201.ChargePoint("CP-2", ws, response_timeout=TIMEOUT_S)
            task = asyncio.create_task(cp.start())
            boot = await cp.call(
                call201.BootNotification(
                    charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
                ),
                suppress=False,
            )
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task
        assert boot.status == "Accepted"
        # TLS does not replace the password
        assert (
            await refused_status(
                url(server, "CP-2", "wss"), basic("CP-2", PASSWORD_1), ssl=client_tls
            )
            == 401
        )


async def test_profile_2_station_is_refused_over_plain_ws_even_with_its_password(
    authenticator_credentials,
):
    async with running(Recorder(), authenticator_credentials) as server:  # no TLS
        assert await refused_status(url(server, "CP-2"), basic("CP-2", PASSWORD_2)) == 401
        # a profile-1 station on the same listener is fine
        async with websockets.connect(
            url(server, "CP-1"),
            subprotocols=["ocpp1.6"],
            additional_headers=basic("CP-1", PASSWORD_1),
        ) as ws:
            assert await boot16(ws) == "Accepted"


async def test_a_tls_listener_does_not_talk_plain_websocket(authenticator_credentials, server_tls):
    async with running(Recorder(), authenticator_credentials, tls=server_tls) as server:
        with pytest.raises((OSError, websockets.InvalidHandshake, EOFError)):
            async with asyncio.timeout(TIMEOUT_S):
                async with websockets.connect(
                    url(server, "CP-2"),
                    subprotocols=["ocpp1.6"],
                    additional_headers=basic("CP-2", PASSWORD_2),
                ):
                    pass
        # the HTTP request never got through TLS, so it was never even looked at
        assert server.authenticator is not None
        assert server.authenticator.counters.accepted + server.authenticator.counters.refused == 0


async def test_a_frame_over_the_size_limit_closes_the_connection_with_1009():
    limits = OcppLimits(max_message_bytes=1024)
    async with running(Recorder(), limits=limits) as server:
        async with websockets.connect(url(server, "CP-BIG"), subprotocols=["ocpp2.0.1"]) as ws:
            # a frame of exactly the limit is answered (JSON padded with spaces)
            frame = '[2,"hb-1","Heartbeat",{}]'
            await ws.send(frame[:-1] + " " * (1024 - len(frame)) + "]")
            async with asyncio.timeout(TIMEOUT_S):
                assert json.loads(await ws.recv())[:2] == [3, "hb-1"]
            await ws.send(frame.replace("hb-1", "hb-2")[:-1] + " " * 1024 + "]")
            with pytest.raises(ConnectionClosedError) as caught:
                async with asyncio.timeout(TIMEOUT_S):
                    await ws.recv()
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009
        async with asyncio.timeout(TIMEOUT_S):
            while server.counters.oversize_closed == 0:
                await asyncio.sleep(0.01)
        assert server.counters.oversize_closed == 1


async def test_over_the_rate_limit_frames_are_delayed_never_lost():
    recorder = Recorder()
    limits = OcppLimits(messages_per_s=5, message_burst=2)
    ids = [f"hb-{i}" for i in range(6)]
    async with running(recorder, limits=limits) as server:
        async with websockets.connect(url(server, "CP-FAST"), subprotocols=["ocpp2.0.1"]) as ws:
            for message_id in ids:  # all at once, without waiting for answers
                await ws.send(json.dumps([2, message_id, "Heartbeat", {}]))
            async with asyncio.timeout(TIMEOUT_S):
                answers = [json.loads(await ws.recv()) for _ in ids]
        assert [(a[0], a[1]) for a in answers] == [(3, i) for i in ids]  # all, in order
        # 2 in the burst; the rest waited for a token (5/s) unless handling took >= 200 ms
        assert 1 <= server.counters.throttled <= len(ids) - 2
        assert server.counters.accepted == len(ids)


async def test_the_rate_limit_is_per_station_and_survives_a_reconnect():
    limits = OcppLimits(messages_per_s=0.001, message_burst=1)  # one message, then ~17 min
    async with running(Recorder(), limits=limits) as server:
        async with websockets.connect(url(server, "CP-A"), subprotocols=["ocpp2.0.1"]) as ws:
            await ws.send('[2,"a-1","Heartbeat",{}]')
            async with asyncio.timeout(TIMEOUT_S):
                assert json.loads(await ws.recv())[1] == "a-1"
        async with websockets.connect(url(server, "CP-A"), subprotocols=["ocpp2.0.1"]) as ws:
            await ws.send('[2,"a-2","Heartbeat",{}]')
            # CP-A is now held back; CP-B, with its own bucket, is not
            async with websockets.connect(url(server, "CP-B"), subprotocols=["ocpp2.0.1"]) as other:
                await other.send('[2,"b-1","Heartbeat",{}]')
                async with asyncio.timeout(TIMEOUT_S):
                    assert json.loads(await other.recv())[1] == "b-1"
            async with asyncio.timeout(TIMEOUT_S):
                while server.counters.throttled == 0:
                    await asyncio.sleep(0.01)
        assert (server.counters.throttled, server.counters.accepted) == (1, 2)


async def test_connections_beyond_the_limit_get_503():
    async with running(Recorder(), limits=OcppLimits(max_connections=1)) as server:
        async with websockets.connect(url(server, "CP-A"), subprotocols=["ocpp1.6"]):
            assert await refused_status(url(server, "CP-B"), None) == 503
        assert server.counters.connections_refused == 1


async def test_a_silent_client_is_dropped_after_the_handshake_timeout():
    async with running(Recorder(), limits=OcppLimits(open_timeout_s=0.2)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            async with asyncio.timeout(TIMEOUT_S):
                assert await reader.read() == b""  # the server closed it: EOF
        finally:
            writer.close()


@pytest.fixture
def mtls(ca, tmp_path) -> ssl.SSLContext:
    """The server's context for security profile 3: station certificates from ``ca``."""
    leaf = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert_file.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    key_file.write_bytes(leaf.private_key_pem.bytes())
    ca_file.write_bytes(ca.cert_pem.bytes())
    return server_ssl_context(cert_file, key_file, client_ca_file=ca_file)


def station_tls(server_ca: trustme.CA, signer: trustme.CA, name: str) -> ssl.SSLContext:
    """A station's context trusting ``server_ca``, with a client certificate for ``name``."""
    context = ssl.create_default_context()
    server_ca.configure_trust(context)
    signer.issue_cert(name, common_name=name).configure_cert(context)
    return context


async def test_profile_3_station_connects_with_its_certificate_and_no_password(ca, mtls):
    credentials = {"CS-3": StationCredential("CS-3", 3, "")}
    async with running(Recorder(), credentials, tls=mtls) as server:
        async with websockets.connect(
            url(server, "CS-3", "wss"), subprotocols=["ocpp1.6"], ssl=station_tls(ca, ca, "CS-3")
        ) as ws:
            assert await boot16(ws) == "Accepted"
        # no certificate, or one named for another station: the same 401 as a bad password
        no_cert = ssl.create_default_context()
        ca.configure_trust(no_cert)
        assert await refused_status(url(server, "CS-3", "wss"), None, ssl=no_cert) == 401
        other = station_tls(ca, ca, "CS-OTHER")
        assert await refused_status(url(server, "CS-3", "wss"), None, ssl=other) == 401
        # a certificate from another CA does not get through TLS at all
        with pytest.raises((ssl.SSLError, OSError, websockets.InvalidHandshake)):
            async with websockets.connect(
                url(server, "CS-3", "wss"),
                subprotocols=["ocpp1.6"],
                ssl=station_tls(ca, trustme.CA(), "CS-3"),
            ) as ws:
                await boot16(ws)
