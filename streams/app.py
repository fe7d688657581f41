"""Builds the Faust app from Settings.

Group timing comes from ``gridstream.broker`` (one place for it): with Faust's default
60 s session a worker would wait half a minute on the embedded broker before consuming.
"""

from __future__ import annotations

import faust

from gridstream.broker import (
    CLIENT_REQUEST_TIMEOUT_S,
    GROUP_HEARTBEAT_INTERVAL_S,
    GROUP_REBALANCE_TIMEOUT_S,
    GROUP_SESSION_TIMEOUT_S,
)
from gridstream.settings import Settings


def create_app(settings: Settings, bootstrap: str, app_id: str = "gridstream") -> faust.App:
    """A Faust app on ``bootstrap`` with fast group joins and no web server or tables."""
    datadir = settings.data_dir / "faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    return faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        web_enabled=False,
        # Faust's own data dir defaults to "<app_id>-data" in the working directory.
        datadir=str(datadir),
        store="memory://",
        broker_session_timeout=GROUP_SESSION_TIMEOUT_S,
        broker_heartbeat_interval=GROUP_HEARTBEAT_INTERVAL_S,
        broker_rebalance_timeout=GROUP_REBALANCE_TIMEOUT_S,
        broker_request_timeout=CLIENT_REQUEST_TIMEOUT_S,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        # Topics come from the catalog (gridstream.broker.ensure_topics), with their configs.
        topic_allow_declare=False,
        topic_disable_leader=True,
        producer_acks=-1,
        loghandlers=[],
    )
