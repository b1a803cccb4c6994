"""How fast the machine's cores run today: a fixed pure-Python workload, timed on each.

This machine kind changes speed from one day to the next: on 2026-11-27 the same code
served 1.4-1.5x the requests per second of the evening before, so a figure that meets a
target one day may miss it another. The benchmarks print this time beside their figures:
runs of different days compare through it (a lower time, a faster core), and a figure
can be read as "on cores that run the workload in N ms". It is timed before and after
the run: the machine also changes within minutes (30 ms, then 56 ms twenty minutes
later, then 30 ms again, on 2026-11-27), and a run with two different times is suspect.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Iterator

ROUNDS = 5


def _workload() -> int:
    """Dict, string and integer work, like a request's Python: ~31 ms on 2026-11-27."""
    table: dict[str, int] = {}
    total = 0
    for i in range(200_000):
        key = f"k{i % 1000}"
        table[key] = table.get(key, 0) + i
        total += len(key)
    return total + sum(table.values())


@contextlib.contextmanager
def _on_cpu(cpu: int) -> Iterator[None]:
    """This process on `cpu` only, while inside."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _median_ms() -> float:
    _workload()  # warm
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        _workload()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def core_speeds() -> dict[int, float]:
    """The workload's median time (ms) on each core this process may use; {-1: ms}
    unpinned where cores cannot be chosen (not Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        return {-1: _median_ms()}
    speeds = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        with _on_cpu(cpu):
            speeds[cpu] = _median_ms()
    return speeds


def speed_line(
    server_cpu: int, before: dict[int, float], after: dict[int, float] | None = None
) -> str:
    """The cores' times before the run (and after it, once it is over)."""

    def named(cpu: int) -> str:
        return "unpinned" if cpu < 0 else f"CPU {cpu}" + (" (server)" if cpu == server_cpu else "")

    def times(cpu: int) -> str:
        return f"{before[cpu]:.1f}" + (f" -> {after[cpu]:.1f}" if after and cpu in after else "")

    cores = ", ".join(f"{named(cpu)} {times(cpu)} ms" for cpu in before)
    when = "before -> after the run" if after else "before the run"
    return (
        f"machine speed ({when}): a fixed pure-Python workload ran in {cores} (median of "
        f"{ROUNDS}; lower is faster: runs of different days compare through it)"
    )
