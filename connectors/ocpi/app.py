"""The OCPI receiver as an ASGI app (Starlette): a thin shell around the pure modules.

Every request: authenticate (``Authorization: Token``; token A only on versions and
credentials, token C everywhere), check that the URL's party is the partner's, read the
JSON body, call the pure function of the module (``sessions``, ``cdrs``, ``locations``,
``handshake``, ``charging_profiles``) with the state held for the object, then

- accepted: ``await publish(records)`` (the durable spool in ``gridstream run``); only once
  that returned is the new state kept and the partner answered 1000. A failed publish is
  answered 3000 (HTTP 503) and nothing is kept, so the partner's retry is handled afresh;
- rejected: the raw request (method, path, body; id tokens pseudonymised) goes to the
  dead-letter topic with the reason, then the OCPI error answer (status code and HTTP
  status from ``gridstream.errors.REASONS``).

Requests for one object are handled one at a time (a lock per object), so two PATCHes of
one session cannot interleave between reading and keeping its state. X-Request-ID and
X-Correlation-ID are echoed on every answer. The state (sessions, locations, CDR ids) is
held in memory: a restarted receiver takes a PATCH of a session it no longer holds as
unknown (2001, the partner then PUTs it whole, as OCPI prescribes after a failed PATCH).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeAlias

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.ocpi import (
    cdrs,
    charging_profiles,
    handshake,
    locations,
    meter_samples,
    sessions,
)
from connectors.ocpi.observe import ObserveRequests
from connectors.ocpi.openapi import openapi_document
from connectors.ocpi.partners import Partner, PartnerStore, Stage
from connectors.ocpi.wire import (
    SUCCESS,
    VERSIONS,
    Accepted,
    PartyRef,
    Rejected,
    Result,
    WireError,
    envelope,
)
from connectors.ocpp.id_tokens import hash_id_token
from gridstream.records import DeadLetter, Record, Source

log = logging.getLogger(__name__)

Clock: TypeAlias = Callable[[], datetime]
"""Returns the current time, aware UTC."""

_SOURCE: dict[str, Source] = {"2.2.1": "ocpi2.2.1", "2.3.0": "ocpi2.3.0", "3.0": "ocpi3.0"}
#: The OCPI 3.0 draft's MeterSamples route names no version (its URL is not public).
DRAFT = "3.0"
#: Largest request body read; a session of thousands of periods is well under it.
MAX_BODY_BYTES = 1 << 20
# Id-token members of OCPI objects (Token uid, contract_id; CdrToken the same).
_TOKEN_MEMBER = re.compile(r'("(?:uid|contract_id|visual_number)"\s*:\s*)"((?:[^"\\]|\\.)*)"')


class Publish(Protocol):
    """Keep records for their topics; return only once they are safe (raises otherwise)."""

    async def __call__(self, records: Sequence[Record], /) -> None:
        """Keep ``records`` and wait until they are safe."""
        ...


class DeadLetterSink(Protocol):
    """Keep one dead letter for the ``dlq`` topic."""

    async def __call__(self, letter: DeadLetter, /) -> None:
        """Produce ``letter``."""
        ...


@dataclass
class Counters:
    """Request counts for logs and the run summary."""

    accepted: int = 0
    rejected: int = 0
    unauthorized: int = 0
    publish_failed: int = 0
    #: Accepted requests that changed nothing (older by last_updated, or sent again).
    unchanged: int = 0
    records: int = 0


class _Refused(Exception):
    """Internal: a request refused before its module ran (auth, party, body)."""

    def __init__(
        self, rejected: Rejected, party: str | None = None, head: bytes | None = None
    ) -> None:
        super().__init__(rejected.detail)
        self.rejected = rejected
        self.party = party
        #: What was read of a body refused while reading it (the dead letter keeps that).
        self.head = head


def redact(raw: str, key: bytes) -> str:
    """``raw`` with every token uid / contract id replaced by ``hmac:<keyed hash>``."""

    def sub(match: re.Match[str]) -> str:
        return f'{match.group(1)}"hmac:{hash_id_token(match.group(2), key)}"'

    return _TOKEN_MEMBER.sub(sub, raw)


class OcpiReceiver:
    """The receiver's state and its Starlette ``app``; every dependency is injected."""

    def __init__(
        self,
        *,
        publish: Publish,
        dead_letter: DeadLetterSink,
        partners: PartnerStore,
        site_of: Callable[[str], str],
        now: Clock,
        peer: handshake.PeerClient,
        own_party: PartyRef,
        id_token_key: bytes,
        max_ended_sessions: int = 100_000,
    ) -> None:
        """Hold the dependencies; build the app with ``app()``.

        Ended sessions are held (a partner re-sending one then publishes nothing) up to
        ``max_ended_sessions``; older ones are forgotten, and one sent again after that
        publishes its events again and its readings, which are the same readings and which
        the warehouse and the stream core count once.
        """
        self._publish = publish
        self._dead_letter = dead_letter
        self.partners = partners
        self._site_of = site_of
        self._now = now
        self._peer = peer
        self._own = own_party
        self._key = id_token_key
        self.counters = Counters()
        self.sessions: dict[sessions.SessionKey, sessions.SessionState] = {}
        self.locations: dict[tuple[str, str, str], locations.LocationState] = {}
        self.cdrs: dict[tuple[str, str, str], Any] = {}
        #: Each session's charging profile as last published (ChargingProfiles module).
        self.profiles: dict[sessions.SessionKey, charging_profiles.ProfileState] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}
        #: Ended sessions, oldest first: the ones beyond ``max_ended_sessions`` are forgotten.
        self._ended: OrderedDict[sessions.SessionKey, None] = OrderedDict()
        self.max_ended_sessions = max_ended_sessions

    # -- the app -------------------------------------------------------------------------

    def app(self) -> Starlette:
        """The ASGI app: every OCPI route and ``/ocpi/openapi.json``."""
        v = "/ocpi/{version}"
        loc = v + "/locations/{country_code}/{party_id}/{location_id}"
        return Starlette(
            routes=[
                Route("/ocpi/openapi.json", self.openapi, methods=["GET"]),
                Route("/ocpi/versions", self.versions, methods=["GET"]),
                Route(v, self.details, methods=["GET"]),
                Route(
                    v + "/credentials",
                    self.credentials,
                    methods=["GET", "POST", "PUT", "DELETE"],
                ),
                Route(
                    v + "/sessions/{country_code}/{party_id}/{session_id}",
                    self.session,
                    methods=["GET", "PUT", "PATCH"],
                ),
                Route(v + "/cdrs", self.cdr_post, methods=["POST"]),
                Route(
                    v + "/cdrs/{country_code}/{party_id}/{cdr_id}", self.cdr_get, methods=["GET"]
                ),
                Route(loc, self.location, methods=["GET", "PUT", "PATCH"]),
                Route(loc + "/{evse_uid}", self.location, methods=["PUT", "PATCH"]),
                Route(
                    "/ocpi/3.0/metersamples/{country_code}/{party_id}",
                    self.meter_sample,
                    methods=["POST"],
                ),
                # Before the versioned routes: the draft has no version in VERSIONS.
                Route(
                    "/ocpi/3.0/chargingprofiles/{session_id}",
                    self.charging_profile,
                    methods=["PUT"],
                ),
                Route(
                    v + "/chargingprofiles/{session_id}",
                    self.charging_profile,
                    methods=["PUT", "POST"],
                ),
                Route(
                    v + "/chargingprofiles/{session_id}/{request_id}",
                    self.charging_profile,
                    methods=["POST"],
                ),
            ],
            middleware=[Middleware(ObserveRequests)],  # gridstream_messages_in, answer time
        )

    # -- helpers -------------------------------------------------------------------------

    def _answer(
        self, request: Request, data: Any, status: int, http: int = 200, message: str | None = None
    ) -> JSONResponse:
        headers = {
            "X-Request-ID": request.headers.get("X-Request-ID") or str(uuid.uuid4()),
            "X-Correlation-ID": request.headers.get("X-Correlation-ID") or str(uuid.uuid4()),
        }
        return JSONResponse(envelope(data, status, self._now(), message), http, headers)

    def _base(self, request: Request) -> str:
        return f"{str(request.base_url).rstrip('/')}/ocpi"

    def _auth(self, request: Request, *, token_a_ok: bool) -> Partner:
        found = self.partners.authenticate(request.headers.get("Authorization"))
        if found is None:
            raise _Refused(Rejected("unauthorized", "no token, or a token of no partner"))
        partner, stage = found
        if stage == "A" and not token_a_ok:
            raise _Refused(
                Rejected("unauthorized", "token A is valid only for versions and credentials"),
                str(partner.party),
            )
        return partner

    def _version(self, request: Request) -> str:
        if "version" not in request.path_params:
            return DRAFT
        version = str(request.path_params["version"])
        if version not in VERSIONS:
            raise _Refused(
                Rejected("unknown_action", f"version {version!r} not served; {', '.join(VERSIONS)}")
            )
        return version

    async def _refuse(self, request: Request, refused: _Refused, body: bytes) -> Response:
        rejected = refused.rejected
        if rejected.reason_code == "unauthorized":
            self.counters.unauthorized += 1
        else:
            self.counters.rejected += 1
        version = request.path_params.get("version", "")
        raw = f"{request.method} {request.url.path}\n" + body.decode("utf-8", "replace")
        letter = DeadLetter(
            source=f"ocpi{version}",
            reason=rejected.reason_code,
            detail=rejected.detail,
            raw=redact(raw, self._key),
            received_at=self._now(),
            station_id=refused.party,
            message_id=request.headers.get("X-Request-ID"),
        )
        # A bodiless request without a valid token (a probe, a GET) carries no data to keep.
        if body or rejected.reason_code != "unauthorized":
            try:
                await self._dead_letter(letter)
            except Exception:
                log.exception("OCPI: dead-lettering failed (%s)", rejected.detail)
        log.info("OCPI %s %s refused (%s): %s", request.method, request.url.path,
                 rejected.reason_code, rejected.detail)  # fmt: skip
        return self._answer(
            request, None, rejected.ocpi_status, rejected.http_status, rejected.detail
        )

    async def _read(self, request: Request) -> bytes:
        """The body, at most ``MAX_BODY_BYTES`` (beyond: refused, the rest never read)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _Refused(
                    Rejected("too_large", f"body over {MAX_BODY_BYTES} bytes"),
                    None,
                    b"".join(chunks)[:4096],
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _body(self, raw: bytes) -> Mapping[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Refused(Rejected("schema_violation", "body is not JSON")) from None
        if not isinstance(body, dict):
            raise _Refused(Rejected("schema_violation", "body is not a JSON object"))
        return body

    def _party(self, request: Request, partner: Partner) -> PartyRef:
        party = PartyRef(
            str(request.path_params["country_code"]), str(request.path_params["party_id"])
        )
        if not partner.owns(party):
            raise _Refused(
                Rejected(
                    "foreign_party",
                    f"partner {partner.party} may not write objects of party {party}",
                ),
                str(partner.party),
            )
        return party

    def _context(self, request: Request, version: str) -> sessions.Context:
        return sessions.Context(
            received_at=self._now(),
            source=_SOURCE[version],
            site_of=self._site_of,
            request_id=request.headers.get("X-Request-ID"),
        )

    def _lock(self, key: tuple[str, ...]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _run(
        self,
        request: Request,
        *,
        key: tuple[str, ...],
        step: Callable[[Mapping[str, Any], sessions.Context], tuple[Any, Result]],
        keep: Callable[[Any], None],
        answer: Callable[[Accepted], Any] = lambda a: a.data,
        created: Callable[[], dict[str, str]] | None = None,
        owner: Callable[[Partner], None] | None = None,
    ) -> Response:
        """Authenticated, party-checked write: step, publish, keep, answer.

        ``owner``, for a URL that names no party, is called with the partner instead of the
        party check (it finds the partner's object, or raises ``_Refused``).
        """
        try:
            body_raw = await self._read(request)
        except _Refused as refused:
            return await self._refuse(request, refused, refused.head or b"")
        try:
            version = self._version(request)
            partner = self._auth(request, token_a_ok=False)
            body = self._body(body_raw)
            if owner is not None:
                owner(partner)
            elif "country_code" in request.path_params:
                self._party(request, partner)
            elif not partner.owns(
                PartyRef(str(body.get("country_code")), str(body.get("party_id")))
            ):
                raise _Refused(
                    Rejected("foreign_party", f"partner {partner.party} may not post that object"),
                    str(partner.party),
                )
        except _Refused as refused:
            return await self._refuse(request, refused, body_raw)
        async with self._lock(key):
            state, result = step(body, self._context(request, version))
            if isinstance(result, Rejected):
                return await self._refuse(request, _Refused(result, str(partner.party)), body_raw)
            if result.records:
                try:
                    await self._publish(result.records)
                except Exception:
                    log.exception("OCPI: publishing %d records failed", len(result.records))
                    self.counters.publish_failed += 1
                    return self._answer(request, None, 3000, 503, "records not stored; retry")
            keep(state)
        self.counters.accepted += 1
        self.counters.records += len(result.records)
        if result.note or not result.records:
            self.counters.unchanged += 1
        response = self._answer(request, answer(result), SUCCESS, 200, result.note)
        if created is not None:
            response.headers.update(created())
        return response

    # -- endpoints -----------------------------------------------------------------------

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI 3.1 description of these endpoints (no token needed)."""
        return JSONResponse(openapi_document())

    async def versions(self, request: Request) -> Response:
        """GET versions (token A or C)."""
        try:
            self._auth(request, token_a_ok=True)
        except _Refused as refused:
            return await self._refuse(request, refused, b"")
        return self._answer(request, handshake.versions_data(self._base(request)), SUCCESS)

    async def details(self, request: Request) -> Response:
        """GET version details (token A or C)."""
        try:
            version = self._version(request)
            self._auth(request, token_a_ok=True)
        except _Refused as refused:
            return await self._refuse(request, refused, b"")
        return self._answer(
            request, handshake.version_details(version, self._base(request)), SUCCESS
        )

    async def credentials(self, request: Request) -> Response:
        """GET, POST (register), PUT (update) and DELETE (unregister) credentials."""
        try:
            version = self._version(request)
            found = self.partners.authenticate(request.headers.get("Authorization"))
            if found is None:
                raise _Refused(Rejected("unauthorized", "no token, or a token of no partner"))
        except _Refused as refused:
            return await self._refuse(request, refused, b"")
        partner, stage = found
        base = self._base(request)
        if request.method == "GET":
            if stage != "C":
                return self._answer(request, None, 2000, 401, "register first (POST)")
            return self._answer(request, {"url": f"{base}/versions", "roles": []}, SUCCESS)
        if request.method == "DELETE":
            if stage != "C":
                return self._answer(request, None, 2000, 405, "not registered")
            self.partners.unregister(partner)
            log.info("OCPI partner %s unregistered", partner.party)
            return self._answer(request, None, SUCCESS)
        return await self._register(request, partner, stage, version, base)

    async def _register(
        self, request: Request, partner: Partner, stage: Stage, version: str, base: str
    ) -> Response:
        # POST with token A registers; PUT with token C updates; the other way round is 405.
        if (request.method == "POST") != (stage == "A"):
            return self._answer(
                request, None, 2000, 405,
                "POST registers (token A), PUT updates a registration (token C)",
            )  # fmt: skip
        try:
            creds = handshake.read_credentials(json.loads(await self._read(request) or b"null"))
        except _Refused as refused:
            return self._answer(request, None, 2001, 413, refused.rejected.detail)
        except (WireError, ValueError) as exc:
            return self._answer(request, None, 2001, 400, str(exc))
        if str(partner.party) not in creds.parties:
            return self._answer(
                request, None, 2001, 400,
                f"credentials.roles must include the provisioned party {partner.party}",
            )  # fmt: skip
        try:
            theirs = await self._peer(creds.url, creds.token)
        except Exception as exc:
            log.warning("OCPI partner %s: GET %s failed: %s", partner.party, creds.url, exc)
            return self._answer(request, None, 3001, 200, f"cannot GET {creds.url}: {exc}")
        common = handshake.common_version(theirs)
        if common is None:
            return self._answer(request, None, 3002, 200, f"no common version; we speak {VERSIONS}")
        token_c = self.partners.register(
            partner, token_b=creds.token, versions_url=creds.url, version=common,
            parties=creds.parties,
        )  # fmt: skip
        log.info("OCPI partner %s registered (version %s)", partner.party, common)
        return self._answer(
            request,
            handshake.our_credentials(token_c, base, self._own.country_code, self._own.party_id),
            SUCCESS,
        )

    async def session(self, request: Request) -> Response:
        """GET, PUT or PATCH one session of ``country_code``/``party_id``."""
        p = request.path_params
        party = PartyRef(str(p["country_code"]), str(p["party_id"]))
        sid = str(p["session_id"])
        key = sessions.key_of(party, sid)
        if request.method == "GET":
            return await self._get(request, lambda: self.sessions.get(key), sessions.session_view)
        fn = sessions.put_session if request.method == "PUT" else sessions.patch_session

        def step(body: Mapping[str, Any], ctx: sessions.Context) -> tuple[Any, Result]:
            return fn(self.sessions.get(key), party, sid, body, ctx)

        def keep(state: Any) -> None:
            if state is not None:
                self.sessions[key] = state
                if state.ended:
                    self._forget_old_sessions(key)

        return await self._run(request, key=("session", *key), step=step, keep=keep)

    def _forget_old_sessions(self, ended: sessions.SessionKey) -> None:
        self._ended[ended] = None
        self._ended.move_to_end(ended)
        while len(self._ended) > self.max_ended_sessions:
            old, _ = self._ended.popitem(last=False)
            self.sessions.pop(old, None)
            self.profiles.pop(old, None)
            self._locks.pop(("session", *old), None)

    async def _get(
        self, request: Request, held: Callable[[], Any], view: Callable[[Any], Any]
    ) -> Response:
        try:
            self._version(request)
            partner = self._auth(request, token_a_ok=False)
            self._party(request, partner)
        except _Refused as refused:
            return await self._refuse(request, refused, b"")
        state = held()
        if state is None:
            return self._answer(request, None, 2001, 404, "unknown object")
        return self._answer(request, view(state), SUCCESS)

    async def cdr_post(self, request: Request) -> Response:
        """POST a CDR; answered with its URL in ``Location``."""
        base = self._base(request)
        version = request.path_params.get("version")
        posted: list[tuple[str, str, str]] = []  # the CDR's key, once its body is read

        def step(body: Mapping[str, Any], ctx: sessions.Context) -> tuple[Any, Result]:
            key = cdrs.cdr_key(body)
            if key is not None:
                posted.append(key)
            return cdrs.post_cdr(self.cdrs.get(key) if key else None, body, ctx)

        def keep(state: Any) -> None:
            if posted and state is not None:
                self.cdrs[posted[0]] = state

        def created() -> dict[str, str]:
            return {"Location": f"{base}/{version}/cdrs/{'/'.join(posted[0] if posted else ())}"}

        # One lock for all CDRs: they are few, and the key is known only once the body is.
        return await self._run(request, key=("cdr",), step=step, keep=keep, created=created)

    async def cdr_get(self, request: Request) -> Response:
        """GET a CDR this receiver holds (the URL a POST answered with)."""
        p = request.path_params
        key = (str(p["country_code"]), str(p["party_id"]), str(p["cdr_id"]))
        return await self._get(
            request, lambda: self.cdrs.get(key), lambda c: c.model_dump(mode="json")
        )

    async def location(self, request: Request) -> Response:
        """GET, PUT or PATCH a location, or PUT or PATCH one of its EVSEs."""
        p = request.path_params
        party = PartyRef(str(p["country_code"]), str(p["party_id"]))
        lid = str(p["location_id"])
        evse = p.get("evse_uid")
        key = (party.country_code, party.party_id, lid)
        if request.method == "GET":
            return await self._get(request, lambda: self.locations.get(key), lambda s: s.fields)
        fn = locations.put_location if request.method == "PUT" else locations.patch_location

        def step(body: Mapping[str, Any], ctx: sessions.Context) -> tuple[Any, Result]:
            return fn(self.locations.get(key), party, lid, evse, body, ctx)

        def keep(state: Any) -> None:
            if state is not None:
                self.locations[key] = state

        return await self._run(request, key=("location", *key), step=step, keep=keep)

    async def meter_sample(self, request: Request) -> Response:
        """POST an OCPI 3.0 (draft) MeterSample of ``country_code``/``party_id``."""
        p = request.path_params
        party = PartyRef(str(p["country_code"]), str(p["party_id"]))

        def evse_of(session_id: str) -> str | None:
            held = self.sessions.get(sessions.key_of(party, session_id))
            return None if held is None else str(held.fields.get("evse_uid"))

        def step(body: Mapping[str, Any], ctx: sessions.Context) -> tuple[Any, Result]:
            return None, meter_samples.read_meter_sample(body, party, ctx, evse_of)

        return await self._run(
            request, key=("metersample", str(party)), step=step, keep=lambda _: None
        )

    def _partner_session(self, request: Request, partner: Partner, session_id: str) -> Any:
        """The session ``session_id`` of one of ``partner``'s parties, or ``_Refused``."""
        parties = [partner.party] + [PartyRef(*p.split("*", 1)) for p in partner.parties]
        cc = request.headers.get("OCPI-from-country-code")
        pid = request.headers.get("OCPI-from-party-id")
        if cc and pid and partner.owns(PartyRef(cc, pid)):
            parties = [PartyRef(cc, pid)]
        found = charging_profiles.find_session(self.sessions, parties, session_id)
        if isinstance(found, Rejected):
            raise _Refused(found, str(partner.party))
        return found

    async def charging_profile(self, request: Request) -> Response:
        """PUT an ActiveChargingProfile of a session, or POST a result to our response_url.

        ChargingProfiles, Sender interface (gridstream is the SCSP/eMSP); see
        ``connectors.ocpi.charging_profiles``.
        """
        sid = str(request.path_params["session_id"])
        held: list[sessions.SessionState] = []  # the session, once the partner is known

        def owner(partner: Partner) -> None:
            if request.method == "PUT":
                held.append(self._partner_session(request, partner, sid))
            else:  # a result names the session only when it carries a profile
                with contextlib.suppress(_Refused):
                    held.append(self._partner_session(request, partner, sid))

        def step(body: Mapping[str, Any], ctx: sessions.Context) -> tuple[Any, Result]:
            session = held[0] if held else None
            state = self.profiles.get(sessions.key_of(session.party, sid)) if session else None
            phases = charging_profiles.phases_of(session, self.locations) if session else None
            if session is not None and request.method == "PUT":
                return charging_profiles.put_active_profile(state, session, body, phases, ctx)
            new, result = charging_profiles.post_result(state, session, body, phases, ctx)
            if isinstance(result, Accepted) and result.note:
                log.info("OCPI charging profile result for session %s: %s", sid, result.note)
            return new, result

        def keep(state: Any) -> None:
            if state is not None and held:
                self.profiles[sessions.key_of(held[0].party, sid)] = state

        return await self._run(
            request, key=("chargingprofile", sid), step=step, keep=keep,
            answer=lambda _: None, owner=owner,
        )  # fmt: skip
