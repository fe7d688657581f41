"""The OCPP endpoint's security from Settings: credentials, TLS context and limits.

``security_from_settings`` is called once at start by the code that starts the connector;
it reads the credentials file and the certificate, and says in the log which security
profile the endpoint runs at (0 when no credentials are configured: any station id may
connect, the demo and simulator default).
"""

from __future__ import annotations

import logging
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

from connectors.ocpp.auth import Authenticator
from connectors.ocpp.credentials import parse_credentials
from connectors.ocpp.limits import OcppLimits
from gridstream.errors import ConfigError
from gridstream.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcppSecurity:
    """What ``serve_ocpp`` takes for security: ``authenticator``, ``ssl_context``, ``limits``."""

    authenticator: Authenticator | None
    ssl_context: ssl.SSLContext | None
    limits: OcppLimits

    @property
    def scheme(self) -> str:
        """``wss`` with TLS, else ``ws``."""
        return "ws" if self.ssl_context is None else "wss"


def server_ssl_context(
    cert_file: Path, key_file: Path, client_ca_file: Path | None = None
) -> ssl.SSLContext:
    """A TLS server context with the certificate (chain) and key, TLS 1.2 or newer.

    OCPP 2.0.1 forbids TLS below 1.2 (PROTOCOLS.md §1). The default ciphers of Python's
    server context include the ones OCPP requires (ECDHE-ECDSA / RSA with AES-GCM). With
    ``client_ca_file``, a client certificate is asked for and, when one is sent, verified
    against that CA (security profile 3); stations of profiles 1 and 2 send none and go
    on to their password.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        context.load_verify_locations(client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def certificate_name(ssl_object: ssl.SSLObject | None) -> str | None:
    """The subject common name of the verified client certificate, if one was sent."""
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()
    if not certificate:
        return None
    subject: tuple[tuple[tuple[str, str], ...], ...] = certificate.get("subject", ())  # type: ignore[assignment]
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def limits_from_settings(settings: Settings) -> OcppLimits:
    """``OcppLimits`` of the ``GRIDSTREAM_OCPP_*`` settings (0 = unbounded)."""
    try:
        return OcppLimits(
            max_message_bytes=settings.ocpp_max_message_bytes or None,
            messages_per_s=settings.ocpp_max_messages_per_s or None,
            message_burst=settings.ocpp_message_burst,
            open_timeout_s=settings.ocpp_handshake_timeout_s or None,
            max_connections=settings.ocpp_max_connections or None,
            max_stations=settings.ocpp_max_stations,
        )
    except ValueError as exc:
        raise ConfigError(f"GRIDSTREAM_OCPP_* limits: {exc}") from None


def security_from_settings(settings: Settings) -> OcppSecurity:
    """Read the credentials file and the TLS certificate named in ``settings``.

    Raises ``ConfigError`` for a certificate without key (or the reverse), an unreadable
    file or a bad credentials line.
    """
    cert, key = settings.ocpp_tls_cert_file, settings.ocpp_tls_key_file
    if (cert is None) != (key is None):
        raise ConfigError(
            "set both GRIDSTREAM_OCPP_TLS_CERT_FILE and GRIDSTREAM_OCPP_TLS_KEY_FILE for "
            "wss://, or neither for ws://"
        )
    context = None
    if cert is not None and key is not None:
        try:
            context = server_ssl_context(cert, key, settings.ocpp_tls_client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"GRIDSTREAM_OCPP_TLS_CERT_FILE={cert} / GRIDSTREAM_OCPP_TLS_KEY_FILE={key}: "
                f"cannot load the certificate and key ({exc})"
            ) from None
    authenticator = None
    path = settings.ocpp_credentials_file
    if path is None:
        log.warning(
            "OCPP security profile 0: no GRIDSTREAM_OCPP_CREDENTIALS_FILE, so stations are "
            "not authenticated and any station id may connect"
        )
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"GRIDSTREAM_OCPP_CREDENTIALS_FILE={path}: cannot read it ({exc.strerror})"
            ) from None
        credentials = parse_credentials(text, f"GRIDSTREAM_OCPP_CREDENTIALS_FILE={path}")
        authenticator = Authenticator(credentials, secret=secrets.token_bytes(32))
        profile2 = sum(c.security_profile == 2 for c in credentials.values())
        log.info(
            "OCPP stations authenticate with HTTP Basic: %d station(s), %d of them security "
            "profile 2 (TLS required); TLS %s",
            len(credentials),
            profile2,
            "on" if context else "off",
        )
        if profile2 and context is None:
            log.warning(
                "%d station(s) require security profile 2 but GRIDSTREAM_OCPP_TLS_CERT_FILE "
                "is unset: they will be refused",
                profile2,
            )
    return OcppSecurity(authenticator, context, limits_from_settings(settings))
