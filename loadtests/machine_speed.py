"""How fast the machine's cores run today: a fixed pure-Python workload, timed on each.

This machine kind changes speed from one day to the next: on 2026-11-27 the same code
served 1.4-1.5x the requests per second of the evening before, so a figure that meets a
target one day may miss it another. The benchmarks print this time beside their figures:
runs of different days compare through it (a lower time, a faster core), and a figure
can be read as "on cores that run the workload in N ms". It is timed before and after
the run: the machine also changes within minutes (30 ms, then 56 ms twenty minutes
later, then 30 ms again, on 2026-11-27), and a run with two different times is suspect.

That workload fits in the CPU's caches; a server holding 10,000 sockets does not. On the
evening of 2026-11-27 it ran ~1.3x slower than that afternoon (38-41 ms against ~30)
while a socket's set-up in `bench_ws` took ~1.8x the server's CPU (~720 µs against ~400),
84% of it in the interpreter, not the kernel (perf). So a second workload walks a heap
far larger than the caches, in an order that defeats prefetching: each step a cache miss,
as in a server touching its sockets' objects. Both are printed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

ROUNDS = 5
HEAP_NODES = 1_000_000  # ~60 MB of objects: beyond any cache here
HEAP_STEPS = 400_000


@dataclass(frozen=True, slots=True)
class CoreSpeed:
    python_ms: float  # the pure-Python workload (in cache)
    heap_ms: float  # the walk of a large heap (cache misses)


class _Node:
    __slots__ = ("next", "value")

    def __init__(self, value: int) -> None:
        self.value = value
        self.next: _Node = self


@functools.cache
def _heap() -> _Node:
    """A ring of HEAP_NODES nodes linked in a shuffled order; built once per process."""
    nodes = [_Node(i) for i in range(HEAP_NODES)]
    order = list(range(HEAP_NODES))
    random.Random(7).shuffle(order)
    for here, after in zip(order, order[1:] + order[:1], strict=True):
        nodes[here].next = nodes[after]
    return nodes[order[0]]


def _workload() -> int:
    """Dict, string and integer work, like a request's Python: ~31 ms on 2026-11-27."""
    table: dict[str, int] = {}
    total = 0
    for i in range(200_000):
        key = f"k{i % 1000}"
        table[key] = table.get(key, 0) + i
        total += len(key)
    return total + sum(table.values())


def _heap_walk() -> int:
    """HEAP_STEPS steps around the ring: ~120 ms on 2026-11-27 (evening), ~300 ns a step."""
    node, total = _heap(), 0
    for _ in range(HEAP_STEPS):
        total += node.value
        node = node.next
    return total


@contextlib.contextmanager
def _on_cpu(cpu: int) -> Iterator[None]:
    """This process on `cpu` only, while inside."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _median_ms(workload: Callable[[], object]) -> float:
    workload()  # warm
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        workload()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _speed() -> CoreSpeed:
    return CoreSpeed(_median_ms(_workload), _median_ms(_heap_walk))


def core_speeds() -> dict[int, CoreSpeed]:
    """Both workloads' median times on each core this process may use; {-1: ...}
    unpinned where cores cannot be chosen (not Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        return {-1: _speed()}
    speeds = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        with _on_cpu(cpu):
            speeds[cpu] = _speed()
    return speeds


def speed_line(
    server_cpu: int, before: dict[int, CoreSpeed], after: dict[int, CoreSpeed] | None = None
) -> str:
    """The cores' times before the run (and after it, once it is over)."""

    def named(cpu: int) -> str:
        return "unpinned" if cpu < 0 else f"CPU {cpu}" + (" (server)" if cpu == server_cpu else "")

    def times(value: Callable[[CoreSpeed], float]) -> str:
        def one(cpu: int) -> str:
            then = f" -> {value(after[cpu]):.1f}" if after and cpu in after else ""
            return f"{named(cpu)} {value(before[cpu]):.1f}{then} ms"

        return ", ".join(one(cpu) for cpu in before)

    when = "before -> after the run" if after else "before the run"
    return (
        f"machine speed ({when}, median of {ROUNDS}; lower is faster: runs of different "
        f"days compare through it): a fixed pure-Python workload ran in "
        f"{times(lambda speed: speed.python_ms)}; a walk of a heap larger than the caches "
        f"in {times(lambda speed: speed.heap_ms)}"
    )
