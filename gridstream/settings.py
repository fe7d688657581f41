"""The one Settings object, read from ``GRIDSTREAM_*`` environment variables.

Built once by the command line and passed down; no other module reads ``os.environ``.
The README's settings table is generated from these fields (``settings_table``) and a
test keeps the two in step.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridstream.logs import LogFormat


class Settings(BaseSettings):
    """gridstream's configuration. Each field is ``GRIDSTREAM_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="GRIDSTREAM_", frozen=True, extra="ignore")

    kafka_bootstrap: str | None = Field(
        None,
        description="Kafka bootstrap servers (host:port,...). Unset: start the embedded "
        "Tansu broker on a free loopback port.",
    )
    topic_replication_factor: int | None = Field(
        None,
        ge=1,
        description="Copies of each partition of the topics gridstream creates. Unset: 1 "
        "with the embedded broker (one node), 3 with GRIDSTREAM_KAFKA_BOOTSTRAP.",
    )
    topic_min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="`min.insync.replicas` of the topics gridstream creates: copies that "
        "must have a record before the broker acknowledges it (acks=all). Unset: 1 with the "
        "embedded broker, 2 with GRIDSTREAM_KAFKA_BOOTSTRAP (at most the replication factor).",
    )
    ocpp_host: str = Field("127.0.0.1", description="Address the OCPP websocket server binds.")
    ocpp_port: int = Field(9000, description="Port of the OCPP websocket server (0 = any free).")
    ocpp_credentials_file: Path | None = Field(
        None,
        description="Station credentials (JSON lines; `gridstream credentials add` writes "
        "it): stations authenticate with HTTP Basic, OCPP security profile 1 or 2. Unset: "
        "no authentication (security profile 0), any station id may connect.",
    )
    ocpp_tls_cert_file: Path | None = Field(
        None,
        description="PEM server certificate (chain) for wss:// (TLS >= 1.2); set together "
        "with GRIDSTREAM_OCPP_TLS_KEY_FILE. Unset: plain ws://.",
    )
    ocpp_tls_key_file: Path | None = Field(
        None, description="PEM private key of GRIDSTREAM_OCPP_TLS_CERT_FILE."
    )
    ocpp_tls_client_ca_file: Path | None = Field(
        None,
        description="PEM CA certificate(s) that sign station client certificates (OCPP security "
        "profile 3: the certificate's common name must be the station id; no password).",
    )
    ocpp_max_message_bytes: int = Field(
        65536,
        description="Largest websocket frame a station may send; a bigger one closes its "
        "connection (1009).",
    )
    ocpp_max_messages_per_s: float = Field(
        20.0,
        description="Messages per second per station; above it the connector reads that "
        "station's next frame later (nothing is lost). 0 = no limit.",
    )
    ocpp_message_burst: int = Field(
        200, description="Messages a station may send at once before the rate limit applies."
    )
    ocpp_handshake_timeout_s: float = Field(
        10.0, description="Longest a station's TLS and websocket handshake may take."
    )
    ocpp_max_connections: int = Field(
        0, description="Open station connections beyond which handshakes get 503. 0 = no limit."
    )
    ocpp_max_stations: int = Field(
        100_000,
        ge=1,
        description="Most stations the OCPP connector remembers (session memory, rate bucket); "
        "beyond it the least recently seen one not connected is forgotten, so invented "
        "station ids cannot grow it without bound.",
    )
    ocpp_upstream_url: str | None = Field(
        None,
        description="Proxy mode: the existing CSMS's OCPP endpoint (ws:// or wss://, e.g. "
        "wss://csms.example/ocpp; the station identity is appended). Every frame between "
        "stations and that CSMS is forwarded unchanged and the meter data is tapped; the "
        "CSMS authenticates its stations. Unset: gridstream is the CSMS.",
    )
    ocpi_host: str = Field(
        "127.0.0.1",
        description="Address the OCPI HTTP receiver binds (loopback: put a TLS-terminating "
        "proxy in front of it for real partners).",
    )
    ocpi_port: int = Field(9001, description="Port of the OCPI HTTP receiver (0 = any free).")
    ocpi_country_code: str = Field(
        "NL",
        description="gridstream's own OCPI country code (ISO 3166 alpha-2), in its credentials.",
    )
    ocpi_party_id: str = Field(
        "GRS", description="gridstream's own OCPI party id (3 characters), in its credentials."
    )
    data_dir: Path = Field(
        Path("./gridstream-data"),
        description="Where the warehouse keeps Parquet files, the DuckDB catalog and state.",
    )
    spool_dir: Path | None = Field(
        None,
        description="Where the OCPP connector keeps the messages it accepted until they are "
        "durable (answers need only this disk, not the broker). Unset: `spool` in the data dir.",
    )
    spool_max_bytes: int = Field(
        1 << 30,
        description="Most the spool holds; when full, stations are answered InternalError "
        "and retry (logged as an error).",
    )
    spool_release: Literal["auto", "ack", "sink"] = Field(
        "auto",
        description="When the spool lets go of a message: `ack` once the broker acknowledged "
        "it (Kafka with replication), `sink` once the warehouse wrote it to Parquet (a broker "
        "that can lose it: the memory-only embedded one). `auto`: `sink` with the embedded "
        "broker, `ack` with GRIDSTREAM_KAFKA_BOOTSTRAP.",
    )
    sites_file: Path | None = Field(
        None,
        description="Sites file, CSV (a row per station: station_id,site_id and any other "
        "registry field) or YAML (.yaml/.yml: sites with their stations and EVSEs; README, "
        "Sites), published to registry.sites at start. A station in no file is its own site.",
    )
    site_timezone: str = Field(
        "Europe/Brussels",
        description="Time zone of sites the registry does not describe (calendar months).",
    )
    max_gap_s: float = Field(
        300.0,
        description="Readings further apart than this make an interval estimated, not measured.",
    )
    max_evse_power_w: float = Field(
        400_000.0,
        gt=0,
        description="Rated power of an EVSE the registry gives none for (W): no pair of its "
        "meter readings may imply more; beyond it the pair is an outlier or a gap, not energy.",
    )
    max_station_power_w: float = Field(
        2_000_000.0,
        gt=0,
        description="The same bound for a station's main meter (EVSE 0), which sums its EVSEs.",
    )
    net_step_s: float = Field(
        60.0,
        description="Step of the grid on which a site's meters are netted (import minus "
        "export per step); must divide 15 minutes.",
    )
    peak_alert_threshold_w: float | None = Field(
        None,
        gt=0,
        description="Import power (W) whose crossing by an open quarter-hour's projected "
        "average raises an alert on alerts.peaks, for every site (besides the month's peak "
        "so far and the site's contracted capacity); unset: none.",
    )
    bidding_zone: str = Field(
        "10YBE----------2",
        description="EIC code of the bidding zone of sites the registry gives none for: the "
        "day-ahead and imbalance prices that value their energy.",
    )
    default_tariff_regime: str = Field(
        "capacity_tariff_flanders",
        description="Grid tariff of sites the registry gives none for: capacity_tariff_flanders "
        "(monthly peak floored at 2.5 kW, 12-month average) or none.",
    )
    violation_tolerance: float = Field(
        0.0,
        ge=0,
        description="Share above a capacity limit a quarter-hour may reach before it is an "
        "exceedance (0.05: 5 %).",
    )
    violation_min_duration_s: float = Field(
        900.0,
        gt=0,
        description="How long load must stay above a capacity limit, from its first "
        "exceedance, before it is a violation (s; judged per quarter-hour).",
    )
    compliance_tolerance: float = Field(
        0.05,
        ge=0,
        description="How far a station may go above the charging limit it was given (or off a "
        "setpoint, either way) and still comply, as a share of the limit (0.05 is 5 %).",
    )
    compliance_tolerance_w: float = Field(
        100.0,
        ge=0,
        description="The least deviation (W) that counts against a charging limit or "
        "setpoint, whatever the share: meters and ramps are not exact.",
    )
    allowed_lateness_s: float = Field(
        6 * 3600.0,
        description="How late a reading may arrive and still revise its quarter-hour.",
    )
    sink_flush_interval_s: float = Field(
        2.0, description="How often the warehouse sink writes Parquet and commits offsets."
    )
    checkpoint_topic: bool = Field(
        True,
        description="Also checkpoint the worker's state on the compacted topic "
        "state.meter_samples, so that a partition moving to a worker on another host (or "
        "one whose data dir was wiped) resumes with its state; off: the local store only.",
    )
    frequency_band_hz: tuple[float, float] = Field(
        (49.8, 50.2),
        description="Grid frequency band (Hz, low and high, as JSON: [49.8, 50.2]); outside "
        "it V2X sessions are expected to respond (DOMAIN.md, Grid-code checks).",
    )
    voltage_band_v: tuple[float, float] = Field(
        (207.0, 253.0),
        description="Phase-to-neutral voltage band (V, low and high: 230 V +/- 10 %, EN 50160).",
    )
    checkpoint_interval_s: float = Field(
        1.0,
        ge=0,
        description="How often at most a worker checkpoints a partition's state (s; 0: after "
        "every batch). Longer costs less under load, and replays more input after a crash.",
    )
    worker_batch_size: int = Field(
        1000, description="Largest batch of input records a worker processes at once."
    )
    worker_batch_within_s: float = Field(
        0.25,
        description="Longest a worker waits for input before it looks again (the "
        "quarter-hour worker processes whatever a fetch brings at once; the flexibility "
        "agent, a Faust agent, waits this long to fill a batch).",
    )
    id_token_key: SecretStr | None = Field(
        None,
        description="Key that pseudonymises RFID/eMAID id tokens (HMAC). Unset: a random "
        "key kept in the data dir, so pseudonyms stay stable across runs.",
    )
    id_token_key_file: Path | None = Field(
        None,
        description="Where the generated id-token key is kept when GRIDSTREAM_ID_TOKEN_KEY is "
        "unset (created with mode 0600); unset: id_token.key in the data dir.",
    )
    entsoe_token: SecretStr | None = Field(
        None,
        description="ENTSO-E Transparency Platform security token, for `gridstream signals "
        "fetch` (ask the TP for one by e-mail).",
    )
    entsoe_api_url: str = Field(
        "https://web-api.tp.entsoe.eu/api", description="The ENTSO-E Transparency Platform API."
    )
    signals_http_port: int | None = Field(
        None,
        description="Port of the generic grid-signals HTTP endpoint of `gridstream run` (POST "
        "/signals: any `signals import` format). Unset: no endpoint; 0 picks a free port.",
    )
    signals_http_host: str = Field(
        "127.0.0.1", description="Address the grid-signals HTTP endpoint listens on."
    )
    signals_http_token: SecretStr | None = Field(
        None,
        description="Bearer token the grid-signals endpoint requires. Unset: anyone who can "
        "reach the port may post (gridstream warns at start).",
    )
    openadr_vtn_url: str | None = Field(
        None,
        description="OpenADR 3 VTN base URL (https://vtn.example/openadr3/3.1.0). Set: `gridstream "
        "run` polls its events as a VEN and publishes them as grid signals.",
    )
    openadr_client_id: str | None = Field(None, description="OpenADR 3 VEN's OAuth2 client id.")
    openadr_client_secret: SecretStr | None = Field(
        None, description="OpenADR 3 VEN's OAuth2 client secret."
    )
    openadr_token_url: str | None = Field(
        None, description="OAuth2 token endpoint. Unset: `<GRIDSTREAM_OPENADR_VTN_URL>/auth/token`."
    )
    openadr_program_id: str | None = Field(
        None, description="Poll only this program's events (and take its payload descriptors)."
    )
    openadr_site_id: str | None = Field(
        None, description="The site of OpenADR events that target none (a VEN per grid connection)."
    )
    openadr_poll_interval_s: float = Field(60.0, description="How often the VEN polls the VTN.")
    openadr_callback_port: int | None = Field(
        None,
        ge=0,
        description="Port on which the VEN takes the VTN's notifications (POST "
        "/openadr3/notifications). Set: the VEN subscribes to event changes where the VTN "
        "offers subscriptions, and keeps polling beside it. Unset: polling only.",
    )
    openadr_callback_host: str = Field(
        "127.0.0.1", description="Address the VEN's notification endpoint listens on."
    )
    openadr_callback_url: str | None = Field(
        None,
        description="The notification URL as the VTN reaches it (behind a proxy, say). Unset: "
        "http://<GRIDSTREAM_OPENADR_CALLBACK_HOST>:<port>/openadr3/notifications.",
    )
    uftp_port: int | None = Field(
        None,
        ge=0,
        description="Port of the UFTP (Shapeshifter) aggregator endpoint of `gridstream run` "
        "(POST /shapeshifter/api/v3/message): DSOs' FlexRequests become grid signals and are "
        "answered with FlexOffers. Unset: no endpoint; 0 picks a free port.",
    )
    uftp_host: str = Field("127.0.0.1", description="Address the UFTP endpoint listens on.")
    uftp_domain: str | None = Field(
        None, description="Our UFTP sender domain (the aggregator's internet domain)."
    )
    uftp_signing_key_file: Path | None = Field(
        None,
        description="File with our base64 Ed25519 signing key (64 bytes: seed and public key, "
        "as `gridstream uftp keygen` writes it). Keep it mode 0600.",
    )
    uftp_participants_file: Path | None = Field(
        None,
        description="YAML list of the DSOs gridstream talks UFTP with: domain, role (DSO), "
        "public_key (base64 Ed25519) and endpoint (URL). No DNS lookups.",
    )
    uftp_offer_price_per_mwh: Decimal = Field(
        Decimal("100"),
        ge=0,
        description="Asking price of a FlexOffer per MWh of flexibility offered.",
    )
    uftp_currency: str = Field("EUR", description="ISO 4217 currency of the FlexOffers' price.")
    tomp_url: str | None = Field(
        None,
        description="A transport operator's TOMP-API base URL. Set: `gridstream run` polls its "
        "bookings (GET /bookings) and publishes the fleet's next departures as charging needs.",
    )
    tomp_token: SecretStr | None = Field(None, description="Bearer token for the TOMP-API.")
    tomp_maas_id: str = Field("gridstream", description="Our maas-id header to the TOMP-API.")
    tomp_fleet_file: Path | None = Field(
        None,
        description="YAML list of the TO's cars that charge here: asset_id, station_id, "
        "evse_id, optional wh_per_km and energy_transfer.",
    )
    tomp_wh_per_km: float = Field(
        180.0, gt=0, description="A shared car's consumption, Wh/km, where the fleet file has none."
    )
    tomp_reserve: float = Field(
        0.2, ge=0, description="Energy reserve on top of a trip's energy (0.2: 20 %)."
    )
    tomp_poll_interval_s: float = Field(300.0, gt=0, description="How often TOMP is polled.")
    dashboard_port: int | None = Field(
        None,
        ge=0,
        description="Port of the live web dashboard (`gridstream run`, `gridstream dashboard`): "
        "sites' load against peak and limit, alerts, violations, stations, flexibility. "
        "`make run` serves it on 8050; unset: not served; 0 picks a free port (logged).",
    )
    dashboard_host: str = Field("127.0.0.1", description="Address the dashboard listens on.")
    dashboard_online_s: float = Field(
        600.0, gt=0, description="A station counts as online this long after its last message."
    )
    compact_interval_s: float = Field(
        3600.0,
        ge=0,
        description="How often `gridstream run` and `gridstream sink` compact the warehouse's "
        "tables and apply the retention (s; 0: never; `gridstream compact` does it at once).",
    )
    compact_target_mb: int = Field(
        64, gt=0, description="Size the warehouse's compaction merges small files into, MB."
    )
    retention_days: dict[str, int] = Field(
        {"dlq": 90},
        description="Days of data kept per topic in the warehouse (JSON, e.g. "
        '`{"meter.samples": 400, "dlq": 90}`); a topic not named is kept for good.',
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        description="Port on which each gridstream process serves its Prometheus metrics "
        "(GET /metrics; README, Monitoring); 0 picks a free one (logged). Unset: not served. "
        "Parts on one host need one port each.",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the metrics endpoint listens on (loopback by default)."
    )
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: LogFormat = Field(
        "text",
        description="Log lines as readable text (a terminal) or one JSON object per line "
        "(json: for a log shipper). Either way station-supplied text is escaped.",
    )

    @field_validator("ocpp_upstream_url")
    @classmethod
    def _websocket_url(cls, url: str | None) -> str | None:
        """Refuse an upstream CSMS address that is not a ws:// or wss:// URL with a host."""
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError(
                f"must be a ws:// or wss:// URL (wss://csms.example/ocpp), not {url!r}"
            )
        return url


def settings_table() -> str:
    """Markdown table of every setting: variable, default, meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "unset" if field.default is None else f"`{field.default}`"
        rows.append(f"| `GRIDSTREAM_{name.upper()}` | {default} | {field.description} |")
    return "\n".join(rows)
