"""Freezing what the sockets build, with the leak that causes kept within a bound.

A full collection walks every object not frozen, so with thousands of sockets held it
pauses for seconds; frozen objects (`gc.freeze()`) are never walked. Freezing while
sockets come and go has a price: a reference cycle among frozen objects is never
collected. A closed socket left ~160 of its ~290 objects in cycles before the hub served
sockets at the transport and broke its own cycles on close; now ~3 of ~47 (the `close`
and `churn` scenarios of loadtests/bench_ws.py measure it). So:

- every `interval_s`, when at least `min_objects` objects are tracked and not frozen,
  the freezer collects them (a walk of those objects only: short) and, if
  `min_objects` survived (sockets opened, subscriptions' state replaced by deliveries),
  freezes them;
- it estimates the frozen garbage as the sockets closed since the last thaw times the
  objects a closed socket leaves (`leak_per_close`, then what the last thaw measured);
  past `thaw_ratio` times the live objects (or `thaw_after_s` after the last thaw, if
  anything was frozen since), it thaws: unfreezes everything and collects it all (one
  long pause, like a default full collection), which frees the frozen garbage and
  measures it, and freezes the survivors again. The live objects are those the last thaw
  (or start-up) found, or, once the estimate reaches that budget, the frozen objects
  counted then (a walk of the frozen list: ~10-25 ms at 600,000) less the estimate: the
  sockets opened since count too. Against the start-up heap alone, a fresh process
  thawed (~400 ms at 10,000 sockets) after ~1,500 of its sockets closed.

So memory stays within (1 + thaw_ratio) times the live objects of the last thaw while
the measured leak per closed socket holds, growth alone never costs a long pause, and
churn costs one per `thaw_ratio` times the heap in leaked objects instead of one every
few seconds. Sockets whose closing leaves no cycles make thaws rare.
`next_step` is the pure rule; `Freezer` does the counting and collecting around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from fowergram.observability.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FreezerOptions:
    interval_s: float = 0.25
    min_objects: int = 20_000
    thaw_ratio: float = 0.5
    thaw_after_s: float = 6 * 3600.0
    # Objects a closed socket leaves in frozen cycles, until a thaw has measured it: ~3 of a
    # socket's ~47 by the `close` audit of loadtests/bench_ws.py (0.1 by its churn audit);
    # the first estimate errs on the safe side by a factor of three.
    leak_per_close: float = 10.0


@dataclass(frozen=True, slots=True)
class Ledger:
    base: int  # objects live (and frozen) right after the last thaw, or at start-up
    closed: int = 0  # sockets closed in this process when it was taken
    leak_per_close: float = 10.0  # objects a closed socket leaves (last measured)
    added: int = 0  # objects frozen since
    thawed_at: float = 0.0  # monotonic time of that thaw
    # The frozen objects counted since that thaw (0: none), the garbage estimated among
    # them then, and the sockets closed by then.
    counted: int = 0
    counted_leaked: float = 0.0
    counted_closed: int = -1

    def leaked(self, closed_now: int) -> float:
        """Frozen garbage estimated from the sockets closed since."""
        return (closed_now - self.closed) * self.leak_per_close

    def live(self) -> float:
        """The live objects known: at the last thaw, or at the last count if more."""
        return max(self.base, self.counted - self.counted_leaked)


class Step(enum.Enum):
    WAIT = "wait"
    COLLECT = "collect"  # the unfrozen objects, then freeze the survivors if many
    COUNT = "count"  # the frozen objects, then decide again
    THAW = "thaw"


def next_step(
    ledger: Ledger, unfrozen: int, closed_now: int, now: float, options: FreezerOptions
) -> Step:
    """What to do with `unfrozen` objects tracked and not frozen."""
    overdue = ledger.added > 0 and now - ledger.thawed_at >= options.thaw_after_s
    budget = options.thaw_ratio * max(ledger.live(), options.min_objects)
    if overdue:
        return Step.THAW
    if ledger.leaked(closed_now) > budget:
        # Sockets opened since the last count may have made room: count before thawing.
        return Step.THAW if ledger.counted_closed == closed_now else Step.COUNT
    if unfrozen < options.min_objects:
        return Step.WAIT
    return Step.COLLECT


def measured_leak(collected: int, closed: int, previous: float) -> float:
    """Objects per closed socket a thaw found; the previous figure if too few closed to
    tell. Never under one object: a leak thought to be nothing would never be looked at."""
    if closed < 100:
        return previous
    return max(collected / closed, 1.0)


class Freezer:
    """Applies `next_step` every `interval_s` on this process's collector; `closed()`
    says how many sockets this process has closed so far."""

    def __init__(
        self,
        options: FreezerOptions,
        metrics: Metrics,
        closed: Callable[[], int],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._options = options
        self._metrics = metrics
        self._closed = closed
        self._clock = clock
        self.ledger = Ledger(
            base=gc.get_freeze_count(),
            closed=closed(),
            leak_per_close=options.leak_per_close,
            thawed_at=clock(),
        )

    def step(self) -> Step:
        # All generations: closing sockets frees old objects, which lowers the count
        # that triggers young collections, so the youngest can grow large too.
        unfrozen = len(gc.get_objects())
        closed = self._closed()
        step = next_step(self.ledger, unfrozen, closed, self._clock(), self._options)
        if step is Step.COUNT:
            self.ledger = replace(
                self.ledger,
                counted=gc.get_freeze_count(),
                counted_leaked=self.ledger.leaked(closed),
                counted_closed=closed,
            )
            step = next_step(self.ledger, unfrozen, closed, self._clock(), self._options)
        if step is Step.COLLECT:
            gc.collect()  # what is not frozen only: frozen garbage would never go
            kept = len(gc.get_objects())
            if kept >= self._options.min_objects:
                gc.freeze()
                self.ledger = replace(self.ledger, added=self.ledger.added + kept)
                self._metrics.gc_freezes.labels("freeze").inc()
        elif step is Step.THAW:
            self._thaw(closed)
        return step

    def _thaw(self, closed: int) -> None:
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        live = len(gc.get_objects())
        gc.freeze()
        previous = self.ledger
        leak = measured_leak(collected, closed - previous.closed, previous.leak_per_close)
        self.ledger = Ledger(live, closed, leak, thawed_at=self._clock())
        self._metrics.gc_freezes.labels("thaw").inc()
        log.info(
            "collector thawed",
            extra={
                "gc_collected": collected,
                "gc_live": live,
                "gc_sockets_closed": closed - previous.closed,
                "gc_leak_per_close": round(leak, 1),
                "gc_thaw_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._options.interval_s)
            try:
                self.step()
            except Exception:  # the collector must never take the server down
                log.exception("collector freeze step failed")


@contextlib.asynccontextmanager
async def freezing(
    options: FreezerOptions, metrics: Metrics, closed: Callable[[], int]
) -> AsyncIterator[Freezer]:
    freezer = Freezer(options, metrics, closed)
    task = asyncio.create_task(freezer.run(), name="gc-freezer")
    try:
        yield freezer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
