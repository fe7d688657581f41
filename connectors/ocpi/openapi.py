"""The OpenAPI 3.1 description of the OCPI receiver (served at ``/ocpi/openapi.json``).

Written by hand from the routes of ``connectors.ocpi.app``: bodies are described loosely
(objects with the fields OCPI requires), answers exactly (the OCPI envelope), so that a
schema-driven test client (schemathesis) can check every answer against it.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from connectors.ocpi.wire import VERSIONS

_ENVELOPE: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["status_code", "timestamp"],
    "properties": {
        "data": {},
        "status_code": {"type": "integer", "minimum": 1000, "maximum": 4999},
        "status_message": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}
_ANSWERS: Final[dict[str, Any]] = {
    code: {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}},
    }
    for code, text in (
        ("200", "OCPI envelope; status_code 1000 on success, 2xxx/3xxx otherwise"),
        ("400", "invalid or missing parameters (2001)"),
        ("401", "no token, an unknown token, or token A where token C is needed"),
        ("403", "the URL names another partner's party (2001)"),
        ("404", "unknown object or version (2001, 2003)"),
        ("405", "method not allowed in this registration state"),
        ("413", "request body over 1 MiB (2001)"),
        ("422", "a value out of range (2001)"),
        ("503", "records could not be stored (3000); retry"),
    )
}
_SECURITY: Final[list[dict[str, list[str]]]] = [{"ocpiToken": []}]


def _op(summary: str, body: str | None = None, *, params: tuple[str, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "security": _SECURITY, "responses": _ANSWERS}
    parameters = [
        {"name": "version", "in": "path", "required": True,
         "schema": {"type": "string", "enum": list(VERSIONS)}},
        *({"name": p, "in": "path", "required": True,
           "schema": {"type": "string", "minLength": 1, "maxLength": 36}} for p in params),
    ]  # fmt: skip
    op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    return op


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (built once)."""
    party = ("country_code", "party_id")
    session = (*party, "session_id")
    loc = (*party, "location_id")
    return {
        "openapi": "3.1.0",
        "info": {"title": "gridstream OCPI receiver", "version": "1"},
        "paths": {
            "/ocpi/versions": {
                "get": {
                    "summary": "Versions (token A or C)",
                    "security": _SECURITY,
                    "responses": _ANSWERS,
                }
            },
            "/ocpi/{version}": {"get": _op("Version details (token A or C)")},
            "/ocpi/{version}/credentials": {
                "get": _op("Credentials held"),
                "post": _op("Register (token A)", "Credentials"),
                "put": _op("Update the registration (token C)", "Credentials"),
                "delete": _op("Unregister (token C)"),
            },
            "/ocpi/{version}/sessions/{country_code}/{party_id}/{session_id}": {
                "get": _op("Session as held", params=session),
                "put": _op("Whole session", "Session", params=session),
                "patch": _op("Part of a session (last_updated required)", "Object", params=session),
            },
            "/ocpi/{version}/cdrs": {"post": _op("A CDR", "Object")},
            "/ocpi/{version}/chargingprofiles/{session_id}": {
                "put": _op(
                    "The session's ActiveChargingProfile (the CPO's update)",
                    "ActiveChargingProfile",
                    params=("session_id",),
                ),
                "post": _op(
                    "A result at gridstream's response_url (ActiveChargingProfileResult, "
                    "ChargingProfileResult, ClearProfileResult)",
                    "ChargingProfileResult",
                    params=("session_id",),
                ),
            },
            "/ocpi/{version}/chargingprofiles/{session_id}/{request_id}": {
                "post": _op(
                    "A result at gridstream's response_url, with the request's own id",
                    "ChargingProfileResult",
                    params=("session_id", "request_id"),
                ),
            },
            "/ocpi/{version}/locations/{country_code}/{party_id}/{location_id}": {
                "get": _op("Location as held", params=loc),
                "put": _op("Whole location", "Object", params=loc),
                "patch": _op("Part of a location (last_updated required)", "Object", params=loc),
            },
        },
        "x-draft-paths": {
            "/ocpi/3.0/metersamples/{country_code}/{party_id}": "POST an OCPI 3.0 draft "
            "MeterSample (provisional: no public 3.0 text)",
            "/ocpi/3.0/chargingprofiles/{session_id}": "PUT an OCPI 3.0 draft "
            "ActiveChargingProfile (its charging_profile.id kept; provisional)",
        },
        "components": {
            "securitySchemes": {
                "ocpiToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Token <base64 of the credentials token>",
                }
            },
            "schemas": {
                "Envelope": _ENVELOPE,
                "Object": {"type": "object"},
                "Credentials": {
                    "type": "object",
                    "required": ["token", "url", "roles"],
                    "properties": {
                        "token": {"type": "string", "maxLength": 64},
                        "url": {"type": "string"},
                        "roles": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "ActiveChargingProfile": {
                    "type": "object",
                    "required": ["start_date_time", "charging_profile"],
                    "properties": {
                        "start_date_time": {"type": "string"},
                        "charging_profile": {
                            "type": "object",
                            "required": ["charging_rate_unit"],
                            "properties": {
                                "charging_rate_unit": {"enum": ["W", "A"]},
                                "charging_profile_period": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["start_period", "limit"],
                                    },
                                },
                            },
                        },
                    },
                },
                "ChargingProfileResult": {
                    "type": "object",
                    "required": ["result"],
                    "properties": {
                        "result": {"enum": ["ACCEPTED", "REJECTED", "UNKNOWN"]},
                        "profile": {"$ref": "#/components/schemas/ActiveChargingProfile"},
                    },
                },
                "Session": {
                    "type": "object",
                    "required": [
                        "country_code",
                        "party_id",
                        "id",
                        "start_date_time",
                        "kwh",
                        "cdr_token",
                        "auth_method",
                        "location_id",
                        "evse_uid",
                        "connector_id",
                        "currency",
                        "status",
                        "last_updated",
                    ],
                },  # fmt: skip
            },
        },
    }
