"""Compaction and retention of the warehouse's tables (``gridstream compact``, and a schedule).

Per topic: the dated partitions older than the topic's retention are deleted (a setting;
a topic not named is kept for good), the small files a sink writes every flush are merged
into files of about ``target_bytes`` (one commit per table: a reader sees the old files or
the new ones, never both, never neither), and files no version has referenced for a day
are deleted from disk (``warehouse.table.VACUUM_AFTER_HOURS``: a reader that listed them
just before still finds them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from gridstream import topics
from warehouse import layout
from warehouse.schemas import topic_schema
from warehouse.table import TopicTable


@dataclass(frozen=True)
class Compacted:
    """What maintenance did to one topic's table."""

    topic: str
    files_before: int
    files_after: int
    rows_expired: int
    files_deleted: int


def compact_warehouse(
    data_dir: Path,
    today: date,
    retention_days: Mapping[str, int] | None = None,
    target_bytes: int = 64 * 1024 * 1024,
) -> list[Compacted]:
    """Expire, compact and vacuum every topic's table under ``data_dir``; what was done."""
    retention = dict(retention_days or {})
    unknown = set(retention) - {t.name for t in topics.ALL}
    if unknown:
        raise ValueError(f"retention for unknown topic(s): {', '.join(sorted(unknown))}")
    done: list[Compacted] = []
    for topic in topics.ALL:
        table = TopicTable(layout.topic_dir(data_dir, topic.name), topic_schema(topic.name))
        if not table.exists():
            continue
        before = len(table.files())
        expired = 0
        if topic.name in retention:
            expired = table.expire(today - timedelta(days=retention[topic.name]))
        table.compact(target_bytes)
        deleted = table.vacuum()
        done.append(Compacted(topic.name, before, len(table.files()), expired, len(deleted)))
    return done
