"""Builds the Faust app from Settings and registers every agent module.

Group settings are tuned so that a worker consumes within seconds: on the embedded broker
JoinGroup is answered after about half the session timeout, so Faust's default 60 s would
mean half a minute of waiting (DESIGN.md). The request timeout stays at or above the
session timeout, below it the worker hangs.
"""

from __future__ import annotations

import faust

from gridstream.settings import Settings

SESSION_TIMEOUT_S = 6.0
HEARTBEAT_INTERVAL_S = 1.0
REQUEST_TIMEOUT_S = 10.0


def create_app(settings: Settings, bootstrap: str, app_id: str = "gridstream") -> faust.App:
    """A Faust app on ``bootstrap`` with fast group joins and no web server or tables."""
    return faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        web_enabled=False,
        store="memory://",
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=HEARTBEAT_INTERVAL_S,
        broker_rebalance_timeout=SESSION_TIMEOUT_S,
        broker_request_timeout=REQUEST_TIMEOUT_S,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        # Topics come from the catalog (gridstream.broker.ensure_topics), with their configs.
        topic_allow_declare=False,
        topic_disable_leader=True,
        producer_acks=-1,
        loghandlers=[],
    )
