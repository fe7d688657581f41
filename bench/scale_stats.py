"""Figures for the scale bench: latency percentiles and a process's memory and CPU time.

The parsers take the text of ``/proc/<pid>/status`` and ``/proc/<pid>/stat`` so that they
can be checked without a running process; ``rss_kib`` and ``cpu_s`` read the files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

__all__ = [
    "cpu_s",
    "latency_summary_ms",
    "parse_cpu_ticks",
    "parse_vmrss_kib",
    "percentile",
    "rss_kib",
]


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 < q <= 100) of ``ordered`` (sorted), by nearest rank.

    The smallest value with at least ``q`` % of the values at or below it: a p99 over 200
    values is the 198th, so one slow answer in a hundred shows.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.0
    >>> percentile([float(v) for v in range(1, 201)], 99)
    198.0
    """
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], got {q}")
    return ordered[max(math.ceil(len(ordered) * q / 100), 1) - 1]


def latency_summary_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """Count, p50, p90, p99 and max of answer latencies given in seconds, in milliseconds."""
    if not latencies_s:
        return {"count": 0}
    ordered = sorted(latencies_s)
    return {
        "count": len(ordered),
        "p50_ms": percentile(ordered, 50) * 1000,
        "p90_ms": percentile(ordered, 90) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def parse_vmrss_kib(status: str) -> int:
    r"""Resident set size in KiB from the text of ``/proc/<pid>/status``.

    >>> parse_vmrss_kib("Name:\tpython\nVmRSS:\t  123456 kB\nThreads:\t3\n")
    123456
    """
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError("no VmRSS line (a kernel thread, or not Linux?)")


def parse_cpu_ticks(stat: str) -> int:
    """User plus system CPU time in clock ticks from the text of ``/proc/<pid>/stat``.

    The command name (field 2) may hold spaces and parentheses, so fields are counted from
    the last ``)``: utime and stime are fields 14 and 15 of proc(5).

    >>> parse_cpu_ticks("42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0")
    300
    """
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state), so field n is fields[n - 3].
    return int(fields[11]) + int(fields[12])


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid`` in KiB (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        return parse_vmrss_kib(f.read())


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds used so far by process ``pid`` (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        return parse_cpu_ticks(f.read()) / os.sysconf("SC_CLK_TCK")
