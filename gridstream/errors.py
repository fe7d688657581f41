"""Errors and the rejection catalogue.

Hierarchy::

    GridstreamError                 root of everything gridstream raises on purpose
    ├── ConfigError                 a setting is missing or inconsistent; fix the environment
    ├── BrokerError                 the Kafka broker cannot be started or reached
    └── StateError                  a state snapshot cannot be used (unknown version, epoch)

Bad input is not an exception: parsers return ``Rejected(reason, detail, raw)`` and the
shell answers the sender in its protocol's terms and sends the raw input with its reason
to the dead-letter topic. ``REASONS`` maps each stable reason code to the protocol codes,
so that the sender, the DLQ and the metrics all name the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


class GridstreamError(Exception):
    """Root of gridstream's own errors."""


class ConfigError(GridstreamError):
    """A setting is invalid. The message names the ``GRIDSTREAM_*`` variable to fix."""


class BrokerError(GridstreamError):
    """The Kafka broker could not be started, reached or set up."""


class StateError(GridstreamError):
    """A stored state snapshot cannot be used (unknown version or another broker epoch)."""


@dataclass(frozen=True)
class Reason:
    """A stable rejection reason and its code in each protocol."""

    code: str
    ocpp16: str
    ocpp2: str
    ocpi_status: int
    http_status: int
    description: str


REASONS: Final[dict[str, Reason]] = {
    r.code: r
    for r in (
        Reason(
            "malformed_frame",
            "FormationViolation",
            "RpcFrameworkError",
            2001,
            400,
            "not a valid OCPP-J frame (JSON array of the right shape)",
        ),
        Reason(
            "unknown_action",
            "NotImplemented",
            "NotImplemented",
            2001,
            404,
            "action not known in this protocol version",
        ),
        Reason(
            "schema_violation",
            "FormationViolation",
            "FormatViolation",
            2001,
            400,
            "payload does not validate against the protocol's JSON schema",
        ),
        Reason(
            "bad_value",
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
            2001,
            422,
            "a value is not a number or is out of its range",
        ),
        Reason(
            "unknown_unit",
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
            2001,
            422,
            "unit of measure not known",
        ),
        Reason(
            "too_late",
            "GenericError",
            "GenericError",
            2001,
            422,
            "reading older than the allowed lateness",
        ),
        # OCPI only (OCPI 2.2.1 status_codes.asciidoc); an OCPP peer never gets these.
        Reason(
            "id_mismatch",
            "GenericError",
            "GenericError",
            2001,
            400,
            "OCPI: the object's country_code, party_id or id differs from the URL's",
        ),
        Reason(
            "foreign_party",
            "GenericError",
            "GenericError",
            2001,
            403,
            "OCPI: the URL names a party that is not the authenticated partner's",
        ),
        Reason(
            "unknown_object",
            "GenericError",
            "GenericError",
            2001,
            404,
            "OCPI: PATCH of an object never PUT (the partner should PUT it whole)",
        ),
        Reason(
            "unknown_location",
            "GenericError",
            "GenericError",
            2003,
            404,
            "OCPI: PATCH of a Location or EVSE gridstream does not know",
        ),
        Reason(
            "unknown_session",
            "GenericError",
            "GenericError",
            2001,
            404,
            "OCPI: a charging profile for a session gridstream does not hold (PUT the session"
            " first; OCPI 3.0 RegulationError UNKNOWN_SESSION)",
        ),
        Reason(
            "too_large",
            "GenericError",
            "GenericError",
            2001,
            413,
            "OCPI: request body over the receiver's limit (1 MiB)",
        ),
        Reason(
            "unauthorized",
            "SecurityError",
            "SecurityError",
            2000,
            401,
            "OCPI: no, unknown or wrong-stage token (Authorization: Token ...)",
        ),
        Reason(
            "outlier",
            "GenericError",
            "GenericError",
            2001,
            422,
            "register reading dropped: it breaks a series consistent across it (a misread)",
        ),
        Reason(
            "malformed_document",
            "FormationViolation",
            "FormatViolation",
            2001,
            400,
            "a grid document cannot be read or lacks a required element",
        ),
        Reason(
            "unknown_format",
            "NotSupported",
            "NotSupported",
            2001,
            415,
            "a grid document is in no format gridstream reads",
        ),
        Reason(
            "bad_resolution",
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
            2001,
            422,
            "a resolution is not a fixed ISO 8601 duration, or does not tile its period",
        ),
        Reason(
            "unknown_area",
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
            2001,
            422,
            "an area or zone is missing or not a valid code (EIC)",
        ),
        Reason(
            "unmapped_payload",
            "NotSupported",
            "NotSupported",
            2001,
            422,
            "a grid message carries a payload type gridstream does not turn into a signal",
        ),
        Reason(
            "no_data",
            "GenericError",
            "GenericError",
            2001,
            404,
            "the publisher answered that it has no data for the request",
        ),
        Reason(
            "bad_record",
            "FormationViolation",
            "FormatViolation",
            3000,
            500,
            "a record on a topic does not match its canonical schema (a producer bug)",
        ),
        Reason(
            "internal_error",
            "InternalError",
            "InternalError",
            3000,
            500,
            "a bug in gridstream; the input is kept in the dead-letter topic",
        ),
        Reason(
            "broker_unavailable",
            "InternalError",
            "InternalError",
            3000,
            503,
            "the broker did not acknowledge the records",
        ),
    )
}


def reason(code: str) -> Reason:
    """Catalogue entry for ``code``; ``KeyError`` names the valid codes."""
    try:
        return REASONS[code]
    except KeyError:
        raise KeyError(f"unknown reason {code!r}; known: {', '.join(REASONS)}") from None


def reasons_table() -> str:
    """Markdown table of every rejection reason and its code in each protocol."""
    rows = [
        "| reason | OCPP 1.6 | OCPP 2.x | OCPI | HTTP | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for r in REASONS.values():
        rows.append(
            f"| `{r.code}` | {r.ocpp16} | {r.ocpp2} | {r.ocpi_status} | {r.http_status} "
            f"| {r.description} |"
        )
    return "\n".join(rows)
