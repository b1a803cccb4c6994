"""How fast the server's core runs today: a fixed pure-Python workload, timed on it.

This machine kind changes speed from one day to the next: on 2026-11-27 the same code
served 1.4-1.5x the requests per second of the evening before, so a figure that meets a
target one day may miss it another. The benchmarks print this time beside their figures:
runs of different days compare through it (a lower time, a faster core), and a figure
can be read as "on a core that runs the workload in N ms". It is timed before and after
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
def _on_cpu(cpu: int) -> Iterator[bool]:
    """This process on `cpu` only, while inside; False where it cannot be pinned."""
    try:
        before = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        yield False
        return
    if cpu not in before:
        yield False
        return
    os.sched_setaffinity(0, {cpu})
    try:
        yield True
    finally:
        os.sched_setaffinity(0, before)


def workload_ms(cpu: int) -> tuple[float, bool]:
    """The median time of the workload on `cpu` (ms), and whether it ran pinned there."""
    with _on_cpu(cpu) as pinned:
        _workload()  # warm
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            _workload()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), pinned


def speed_line(before: tuple[float, bool], after: tuple[float, bool] | None = None) -> str:
    """`workload_ms` before the run (and after it, once it is over)."""
    ms, pinned = before
    where = "on the server's core" if pinned else "unpinned"
    times = f"{ms:.1f} ms before the run" + (f", {after[0]:.1f} ms after" if after else "")
    return (
        f"machine speed: a fixed pure-Python workload ran in {times} {where} (median of "
        f"{ROUNDS}; lower is faster: runs of different days compare through it)"
    )
