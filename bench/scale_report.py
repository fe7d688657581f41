"""The scale bench's figures as text, and the memory per connection worked out."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["FirstFew", "memory_figures", "report", "short"]


def short(phase: dict[str, Any]) -> str:
    """One traffic phase in a line: answers/s, latency p50/p99, errors."""
    latency = phase["latency"]
    return (
        f"{phase['answers_per_s']:.0f} answers/s, p50 {latency.get('p50_ms', 0):.1f} ms, "
        f"p99 {latency.get('p99_ms', 0):.1f} ms, errors {phase['errors']}"
    )


def memory_figures(rss_before: int, held: int, results: dict[str, Any]) -> dict[str, Any]:
    """Connector RSS before, held idle, under load and after traffic; each per connection.

    Per connection is (RSS - RSS before any connection) / connections held.
    """
    per = max(held, 1)
    memory: dict[str, Any] = {
        "connector_rss_before_kib": rss_before,
        "connector_rss_idle_kib": results["idle"]["connector_rss_kib"],
        "per_connection_idle_kib": (results["idle"]["connector_rss_kib"] - rss_before) / per,
    }
    if "saturated" in results:
        under_load = results["saturated"]["connector_rss_max_kib"]
        memory["connector_rss_under_load_max_kib"] = under_load
        memory["per_connection_under_load_kib"] = (under_load - rss_before) / per
    last = [results[p] for p in ("heartbeat", "saturated", "paced") if p in results]
    if last:
        # What stays per connection once stations have talked: the connector's memory of
        # each station (sessions, answers and samples remembered against replays).
        after = last[-1]["connector_rss_after_kib"]
        memory["connector_rss_after_traffic_kib"] = after
        memory["per_connection_after_traffic_kib"] = (after - rss_before) / per
    return memory


class FirstFew(logging.Filter):
    """Lets the first ``limit`` records through and counts the rest.

    A broker that cannot keep up makes every connection log the same traceback; the
    connector's counters (in the report) count them all.
    """

    def __init__(self, limit: int) -> None:
        """Allow ``limit`` records."""
        super().__init__()
        self.limit = limit
        self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """True for the first ``limit`` records."""
        self.seen += 1
        if self.seen == self.limit + 1:
            print("(further log records suppressed; see the counters)", flush=True)
        return self.seen <= self.limit


def report(results: dict[str, Any]) -> str:
    """The figures as a few lines of text, ingest beside the raw produce rate."""
    ramp = results["ramp"]
    lines = [
        _setup(results),
        f"connections held      : {ramp['connected']} of {ramp['asked']} "
        f"(ramp {ramp['seconds']:.1f} s in steps of {results['options']['step']}; "
        f"failures {ramp['failures'] or 'none'})",
        _memory(results["memory"]),
        f"idle (pings only)     : connector CPU {results['idle']['connector_cpu_pct']:.1f} %, "
        f"broker CPU {results['idle']['broker_cpu_pct']:.1f} %; a full garbage collection of "
        f"the connector ({results['idle']['gc_objects']} objects) takes "
        f"{results['idle']['full_gc_ms']:.0f} ms",
    ]
    lines += [_phase(name, results[name]) for name in PHASES if name in results]
    counters = {k: v for k, v in results["counters"].items() if v}
    lines.append(f"connector counters    : {counters}")
    path = results.get("publish_path") or {}
    if path:
        lines.append(
            f"spool                 : {path['appended']} appended in {path['flushes']} syncs, "
            f"{path['forwarded']} forwarded ({path['forward_failures']} failures); caught up "
            f"{path['catch_up_s']:.1f} s after the stations stopped"
            + ("" if path["caught_up"] else " (NOT caught up)")
        )
    if "raw" in results and "saturated" in results:
        raw, saturated = results["raw"], results["saturated"]
        lines.append(
            f"raw aiokafka produce  : {raw['records_per_s']:8.0f} records/s (acks=all, "
            f"{raw['in_flight']} in flight); connector ingest / raw = "
            f"{saturated['records_per_s'] / raw['records_per_s']:.3f} (records/s, saturated)"
        )
    return "\n".join(lines)


#: The traffic phases, in the order they run.
PHASES = ("heartbeat", "saturated", "paced")


def _setup(results: dict[str, Any]) -> str:
    opts, machine = results["options"], results["machine"]
    return (
        f"setup                 : publish {'spool' if opts['spool'] else 'direct'}, producer "
        f"options {dict(opts['producer']) or 'default'}, websockets options "
        f"{dict(opts['ws']) or 'default'}, stations "
        f"{'with' if opts['compression'] else 'without'} permessage-deflate, collector "
        f"thresholds {'Python default' if opts.get('gc_default') else 'of gridstream run'}; "
        f"{machine['cpus']} CPUs, load average {machine['loadavg_start'][0]:.1f} at start, "
        f"{machine.get('loadavg_end', (0.0,))[0]:.1f} at end"
    )


def _memory(memory: dict[str, Any]) -> str:
    line = (
        f"connector memory      : {memory['connector_rss_before_kib'] / 1024:.0f} MiB before, "
        f"{memory['connector_rss_idle_kib'] / 1024:.0f} MiB held idle = "
        f"{memory['per_connection_idle_kib']:.1f} KiB per connection"
    )
    if "per_connection_under_load_kib" in memory:
        line += (
            f"; under load max {memory['connector_rss_under_load_max_kib'] / 1024:.0f} MiB = "
            f"{memory['per_connection_under_load_kib']:.1f} KiB per connection"
        )
    if "per_connection_after_traffic_kib" in memory:
        line += f"; after traffic {memory['per_connection_after_traffic_kib']:.1f} KiB"
    return line


def _phase(name: str, phase: dict[str, Any]) -> str:
    latency = phase["latency"]
    acked = (
        f", broker acked {phase['broker_acked_per_s']:.0f} records/s"
        if abs(phase["broker_acked_per_s"] - phase["records_per_s"]) > 0.05 * phase["records_per_s"]
        else ""
    )
    return (
        f"{name:<22}: {phase['answers_per_s']:8.0f} answers/s "
        f"({phase['readings_per_s']:.0f} readings/s{acked}) from {phase['stations']} stations, "
        f"p50 {latency.get('p50_ms', 0):.1f} ms p99 {latency.get('p99_ms', 0):.1f} ms, "
        f"connector CPU {phase['connector_cpu_pct']:.0f} %, "
        f"{phase['connector_full_gcs']} full GCs, errors {phase['errors'] or 'none'}"
    )
