"""The one Settings object, read from ``GRIDSTREAM_*`` environment variables.

Built once by the command line and passed down; no other module reads ``os.environ``.
The README's settings table is generated from these fields (``settings_table``) and a
test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """gridstream's configuration. Each field is ``GRIDSTREAM_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="GRIDSTREAM_", frozen=True, extra="ignore")

    kafka_bootstrap: str | None = Field(
        None,
        description="Kafka bootstrap servers (host:port,...). Unset: start the embedded "
        "Tansu broker on a free loopback port.",
    )
    ocpp_host: str = Field("127.0.0.1", description="Address the OCPP websocket server binds.")
    ocpp_port: int = Field(9000, description="Port of the OCPP websocket server (0 = any free).")
    data_dir: Path = Field(
        Path("./gridstream-data"),
        description="Where the warehouse keeps Parquet files, the DuckDB catalog and state.",
    )
    sites_file: Path | None = Field(
        None,
        description="CSV of stations and their sites (header: station_id,site_id and any of "
        "ean,congestion_area,brp,contracted_capacity_w,timezone), published to registry.sites "
        "at start. A station in no file is its own site.",
    )
    site_timezone: str = Field(
        "Europe/Brussels",
        description="Time zone of sites the registry does not describe (calendar months).",
    )
    max_gap_s: float = Field(
        300.0,
        description="Readings further apart than this make an interval estimated, not measured.",
    )
    allowed_lateness_s: float = Field(
        6 * 3600.0,
        description="How late a reading may arrive and still revise its quarter-hour.",
    )
    sink_flush_interval_s: float = Field(
        2.0, description="How often the warehouse sink writes Parquet and commits offsets."
    )
    worker_batch_size: int = Field(
        1000, description="Largest batch of records a Faust agent takes at once."
    )
    worker_batch_within_s: float = Field(
        0.5, description="Longest a Faust agent waits to fill a batch."
    )
    id_token_key: SecretStr | None = Field(
        None,
        description="Key that pseudonymises RFID/eMAID id tokens (HMAC). Unset: a random "
        "key kept in the data dir, so pseudonyms stay stable across runs.",
    )
    log_level: str = Field("INFO", description="Python logging level.")


def settings_table() -> str:
    """Markdown table of every setting: variable, default, meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "unset" if field.default is None else f"`{field.default}`"
        rows.append(f"| `GRIDSTREAM_{name.upper()}` | {default} | {field.description} |")
    return "\n".join(rows)
