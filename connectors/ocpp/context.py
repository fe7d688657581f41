"""What a version module needs to turn one OCPP CALL into records, and the one error it raises.

``CallContext`` is built by the shell for every CALL: who sent it, when it arrived (``now``,
from the injected clock, never read here), which protocol version the connection speaks, the
station's session memory and the key for pseudonymising id tokens.

``InvalidPayload`` is raised deep inside the pure parsing code (a bad meter value, an unknown
unit, an unreadable timestamp) and caught by ``connectors.ocpp.parse.handle_call``, which
turns it into a ``Rejected`` value: nothing outside this package sees the exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from connectors.ocpp.sessions import StationState

OcppVersion = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
"""A supported OCPP version, spelled as its websocket subprotocol (and as ``records.Source``)."""

OCPP_VERSIONS: Final[tuple[OcppVersion, ...]] = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


@dataclass(frozen=True)
class CallContext:
    """Everything about one CALL that is not in its payload.

    ``now`` is the receive time (aware UTC): it becomes ``received_at`` of every record and
    ``currentTime`` of BootNotification and Heartbeat answers. ``station`` is that station's
    mutable session memory (owned by the shell, shared by its calls); ``id_token_key`` keys
    the id-token hash (``connectors.ocpp.id_tokens.hash_id_token``). Neither takes part in
    equality or ``repr`` (the key must not end up in logs).
    """

    station_id: str
    site_id: str
    message_id: str
    now: datetime
    source: OcppVersion
    id_token_key: bytes = field(repr=False, compare=False)
    station: StationState = field(default_factory=StationState, repr=False, compare=False)
    #: Sampled values of this CALL that could not be read, each (reason, detail, the
    #: sampled value as sent): dropped alone, the rest of the frame kept (DOMAIN.md, Meter
    #: values); ``parse.handle_call`` dead-letters each.
    dropped: list[tuple[str, str, Mapping[str, Any]]] = field(
        default_factory=list, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Refuse a naive ``now``: records need aware UTC times (a bug, not bad input)."""
        if self.now.tzinfo is None:
            raise ValueError("CallContext.now must be timezone-aware (inject a UTC clock)")


class InvalidPayload(ValueError):
    """A schema-valid payload that still cannot become records.

    ``reason`` is a code from ``gridstream.errors.REASONS`` (``bad_value``,
    ``unknown_unit``); ``detail`` names the field path and what was wrong, never an id token.
    """

    def __init__(self, reason: str, detail: str) -> None:
        """Keep the reason code and the detail text for the ``Rejected`` value."""
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
