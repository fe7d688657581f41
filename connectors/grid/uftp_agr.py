"""gridstream as a UFTP aggregator (AGR): takes a DSO's FlexRequests and answers with offers.

The endpoint, the XML, the signatures (Ed25519, the SignedMessage envelope) and the
clients that send our answers are shapeshifter-uftp's (``ShapeshifterAgrService``); this
module is the shell around it:

- a FlexRequest is checked and published as grid signals (``connectors.grid.uftp``); a
  FlexRequestResponse goes back, Accepted, or Rejected with the UFTP rejection reason (and
  the request to the dead-letter topic);
- then, when the congestion area has flexibility in the requested ISPs, a FlexOffer goes
  to the DSO (``connectors.grid.uftp_offers``) from the latest ``flex.offers`` figures,
  which ``follow_area_offers`` keeps in ``AreaOffers``; each offered ISP element is also
  recorded on ``flex.uftp_offers`` (warehouse view ``uftp_flex_offers``);
- FlexOrders and the other DSO requests are refused: gridstream reports flexibility, it
  does not dispatch it.

Participants (the DSOs, their public keys and endpoints) come from a file
(``GRIDSTREAM_UFTP_PARTICIPANTS_FILE``), never from DNS: these machines have no network,
and a key from a file is one an operator checked. A message from a sender not in it is
refused with HTTP 401 before its signature is looked at. The library serves from its own
thread and handles messages in a thread pool; publishing hops onto the pipeline's loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from fastapi import HTTPException, Response
from nacl.bindings import crypto_sign_keypair
from pydantic import ValidationError
from shapeshifter_uftp import FlexOffer as UftpFlexOffer
from shapeshifter_uftp import FlexRequest, ShapeshifterAgrService, SignedMessage, transport
from shapeshifter_uftp.service.base_service import snake_case
from shapeshifter_uftp.uftp import AcceptedRejected, PayloadMessage, request_response_map

from connectors.grid.uftp import (
    SOURCE_PREFIX,
    UftpRejection,
    flex_request_signals,
    request_grid,
)
from connectors.grid.uftp_offers import answer_flex_request
from gridstream import topics
from gridstream.errors import ConfigError
from gridstream.follow import follow_topic
from gridstream.records import FlexOffer, Record, UftpOfferedIsp

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[Record]], Awaitable[None]]
#: How long a publish from the library's thread may wait for the broker's acknowledgement.
PUBLISH_TIMEOUT_S = 30.0
#: Periods this far before the newest one are forgotten (requests are about the next day).
OFFER_MEMORY = timedelta(days=2)


@dataclass(frozen=True)
class Participant:
    """A UFTP party gridstream talks to: its domain, role, public key and endpoint URL."""

    domain: str
    role: str
    public_key: str
    endpoint: str


def load_participants(path: Path) -> dict[tuple[str, str], Participant]:
    """The participants in a YAML file: a list of ``{domain, role, public_key, endpoint}``.

    ``role`` defaults to DSO; ``public_key`` is the base64 Ed25519 verify key (32 bytes).
    ``ConfigError`` names the entry that is wrong.
    """
    try:
        entries = yaml.safe_load(path.read_text()) or []
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"GRIDSTREAM_UFTP_PARTICIPANTS_FILE {path}: {exc}") from None
    participants: dict[tuple[str, str], Participant] = {}
    for number, entry in enumerate(entries if isinstance(entries, list) else [entries], 1):
        try:
            participant = Participant(
                domain=str(entry["domain"]),
                role=str(entry.get("role", "DSO")),
                public_key=str(entry["public_key"]),
                endpoint=str(entry["endpoint"]),
            )
            if len(base64.b64decode(participant.public_key, validate=True)) != 32:
                raise ValueError("public_key is not a base64 32-byte Ed25519 key")
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"GRIDSTREAM_UFTP_PARTICIPANTS_FILE {path}, entry {number}: {exc!s} (each entry "
                "needs domain, public_key and endpoint; role defaults to DSO)"
            ) from None
        participants[participant.domain, participant.role] = participant
    return participants


def read_signing_key(path: Path) -> str:
    """Our base64 Ed25519 signing key (64 bytes) from ``path``; ``ConfigError`` if not one."""
    try:
        key = path.read_text().strip()
        if len(base64.b64decode(key, validate=True)) != 64:
            raise ValueError("not a base64 64-byte Ed25519 signing key")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"GRIDSTREAM_UFTP_SIGNING_KEY_FILE {path}: {exc}") from None
    return key


def new_key_pair(path: Path) -> str:
    """Write a new signing key to ``path`` (created 0600, never overwritten); its public key.

    The public key (base64) is what the DSO needs (in its participants list or our DNS).
    """
    public, private = crypto_sign_keypair()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(base64.b64encode(private).decode() + "\n")
    return base64.b64encode(public).decode()


class AreaOffers:
    """The latest ``FlexOffer`` per congestion area and period, read from the library's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._areas: dict[str, dict[datetime, FlexOffer]] = {}
        self._newest: datetime | None = None

    def add(self, offer: FlexOffer) -> None:
        """Keep ``offer`` unless the same period already has a later revision."""
        with self._lock:
            periods = self._areas.setdefault(offer.congestion_area, {})
            held = periods.get(offer.interval_start)
            if held is None or (offer.revision, offer.as_of) >= (held.revision, held.as_of):
                periods[offer.interval_start] = offer
            if self._newest is None or offer.interval_start > self._newest:
                self._newest = offer.interval_start
                self._forget_before(self._newest - OFFER_MEMORY)

    def of_area(self, area: str) -> dict[datetime, FlexOffer]:
        """A copy of the area's offers by period start."""
        with self._lock:
            return dict(self._areas.get(area, {}))

    def _forget_before(self, cutoff: datetime) -> None:
        for periods in self._areas.values():
            for start in [s for s in periods if s < cutoff]:
                del periods[start]


async def follow_area_offers(bootstrap: str, offers: AreaOffers, stop: asyncio.Event) -> None:
    """Add every record of ``flex.offers`` to ``offers`` until ``stop``."""

    def on_offer(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if value is None:
            return
        try:
            offers.add(FlexOffer.from_json(value))
        except (ValidationError, ValueError) as exc:  # the sink dead-letters it
            log.error("%s[%d]@%d: not a flex offer: %s",
                      topics.FLEX_OFFERS.name, partition, offset, exc)  # fmt: skip

    await follow_topic(bootstrap, topics.FLEX_OFFERS.name, on_offer, stop, "gridstream-uftp-agr")


@dataclass(frozen=True)
class AgrConfig:
    """What the AGR needs: our domain and signing key, the participants, the offer's price."""

    domain: str
    signing_key: str
    participants: dict[tuple[str, str], Participant]
    price_per_mwh: Decimal
    currency: str = "EUR"
    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/shapeshifter/api/v3/message"


class UftpAgr(ShapeshifterAgrService):
    """The AGR endpoint: FlexRequests in as signals, FlexOffers out (module docstring)."""

    def __init__(
        self,
        config: AgrConfig,
        offers: AreaOffers,
        publish: Publish,
        loop: asyncio.AbstractEventLoop,
        now: Callable[[], datetime],
    ) -> None:
        super().__init__(
            sender_domain=config.domain,
            signing_key=config.signing_key,
            key_lookup_function=self._key,
            endpoint_lookup_function=self._endpoint,
            host=config.host,
            port=config.port,
            path=config.path,
        )
        self.config = config
        self.offers = offers
        self._publish = publish
        self._loop = loop
        self._now = now

    @property
    def port(self) -> int:
        """The port the endpoint listens on (the one picked when configured 0)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.config.port

    def _key(self, domain: str, role: str) -> str | None:
        participant = self.config.participants.get((domain, str(role)))
        return participant.public_key if participant else None

    def _endpoint(self, domain: str, role: str) -> str | None:
        participant = self.config.participants.get((domain, str(role)))
        return participant.endpoint if participant else None

    def _receive_message(self, message: SignedMessage) -> Response:
        # The library would look the key up and fail with a 500 on an unknown sender.
        if self._key(message.sender_domain, message.sender_role) is None:
            raise HTTPException(401, "Unknown SenderDomain")
        answer: Response = super()._receive_message(message)
        return answer

    def publish(self, records: Sequence[Record]) -> None:
        """Publish from one of the library's threads and wait for the broker's acknowledgement."""

        async def publish() -> None:
            await self._publish(records)

        asyncio.run_coroutine_threadsafe(publish(), self._loop).result(PUBLISH_TIMEOUT_S)

    def process_flex_request(self, message: FlexRequest) -> None:
        """Signals and an answer for a DSO's FlexRequest; then an offer when there is one."""
        received_at = self._now()
        try:
            signals = flex_request_signals(message, received_at)
        except UftpRejection as exc:
            log.warning("UFTP FlexRequest %s from %s rejected: %s",
                        message.message_id, message.sender_domain, exc)  # fmt: skip
            raw = str(transport.to_xml(message))
            dead = exc.rejected(raw).to_dead_letter(
                f"{SOURCE_PREFIX}{message.sender_domain}", received_at
            )
            self.publish([dead])
            self._respond(message, exc.uftp_reason)
            return
        self.publish(signals)
        self._respond(message, None)
        offer = answer_flex_request(
            message,
            self.offers.of_area(message.congestion_point),
            price_per_mwh=self.config.price_per_mwh,
            currency=self.config.currency,
            message_id=str(uuid.uuid4()),
            now=self._now(),
        )
        if offer is None:
            log.info("UFTP FlexRequest %s for %s: no flexibility to offer",
                     message.message_id, message.congestion_point)  # fmt: skip
            return
        with self.dso_client(message.sender_domain, message.version) as client:
            client.send_flex_offer(offer)
        self.publish(offered_isps(offer, message, self._now()))

    def _respond(self, message: PayloadMessage, rejection: str | None) -> None:
        """The response a request of ``message``'s type wants, Accepted or Rejected."""
        response_type = request_response_map[type(message)]
        id_field = snake_case(type(message).__name__) + "_message_id"
        response = response_type(
            conversation_id=message.conversation_id,
            result=AcceptedRejected.REJECTED if rejection else AcceptedRejected.ACCEPTED,
            rejection_reason=rejection,
            **{id_field: message.message_id},
        )
        with self.dso_client(message.sender_domain, message.version) as client:
            client._send_message(response)  # the typed senders differ per response type

    def _refuse(self, message: PayloadMessage) -> None:
        log.warning("UFTP %s from %s refused: gridstream does not act on it",
                    type(message).__name__, message.sender_domain)  # fmt: skip
        self._respond(message, "Invalid Message: gridstream reports flexibility, it does not "
                      f"execute a {type(message).__name__}")  # fmt: skip

    def process_flex_order(self, message: Any) -> None:
        """Refused: ordered flexibility would have to be dispatched, which gridstream does not."""
        self._refuse(message)

    def process_flex_reservation_update(self, message: Any) -> None:
        """Refused (no bilateral reservations here)."""
        self._refuse(message)

    def process_flex_settlement(self, message: Any) -> None:
        """Refused (no orders, so nothing to settle)."""
        self._refuse(message)

    def process_flex_offer_response(self, message: Any) -> None:
        """The DSO's answer to an offer: logged."""
        log.info("UFTP FlexOffer %s: %s %s", message.flex_offer_message_id, message.result,
                 message.rejection_reason or "")  # fmt: skip

    def _answer_logged(self, message: Any) -> None:
        log.info("UFTP %s from %s: %s", type(message).__name__, message.sender_domain,
                 getattr(message, "result", ""))  # fmt: skip

    process_d_prognosis_response = _answer_logged
    process_flex_offer_revocation_response = _answer_logged
    process_metering_response = _answer_logged
    process_agr_portfolio_query_response = _answer_logged
    process_agr_portfolio_update_response = _answer_logged


def offered_isps(offer: UftpFlexOffer, request: FlexRequest, sent_at: datetime) -> list[Record]:
    """The records of a sent FlexOffer: one per ISP element, in UTC."""
    grid = request_grid(request)
    [option] = offer.offer_options
    records: list[Record] = []
    for isp in option.isps:
        start, end = grid.interval(isp.start, isp.duration)
        records.append(
            UftpOfferedIsp(
                offer_message_id=offer.message_id,
                flex_request_message_id=str(request.message_id),
                dso_domain=str(request.sender_domain),
                congestion_point=offer.congestion_point,
                interval_start=start,
                interval_end=end,
                power_w=float(isp.power),
                offer_price=float(option.price),
                currency=offer.currency,
                expires_at=datetime.fromisoformat(offer.expiration_date_time),
                sent_at=sent_at,
            )
        )
    return records
