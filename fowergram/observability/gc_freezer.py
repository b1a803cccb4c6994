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
  freezes them; past `max_walk` (a burst: 10,000 subscriptions arriving at once held
  ~450,000 objects in their pending tasks, and walking them paused the server for
  ~210 ms) it freezes them unswept instead, at no cost, and counts them: a share of them
  (`UNSWEPT_GARBAGE_SHARE`) is counted as frozen garbage until a look measures it;
- it estimates the frozen garbage as what the last look found plus the sockets closed
  since times the objects a closed socket leaves (`leak_per_close`, then what the last
  look measured); past `thaw_ratio` times the live objects (or `look_after_s` after the
  last look, if anything was frozen since), it looks: a forked child unfreezes and
  collects everything and reports the garbage it found and the objects left live
  (gc_survey.py; the server pauses for a collection of what is not frozen yet and the
  fork, 7-9 ms at ~290 MB);
- only when the garbage found passes `thaw_ratio` times the live objects does it thaw:
  unfreeze everything and collect it all (one long pause, ~460 ms at 10,000 sockets,
  like a default full collection), which frees the frozen garbage, and freeze the
  survivors again. Without surveys (or when one fails) a look is a thaw.

So memory stays within (1 + thaw_ratio) times the live objects of the last look while
the measured leak per closed socket holds, growth alone never costs a long pause, and a
long pause comes only when there is that much garbage to free: with a closed socket
leaving ~0.1-3 objects, after hundreds of thousands of closes at 10,000 sockets. Before
surveys the first look was a thaw, after ~20,000 closes at 10,000 sockets (and one
every six hours).
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

from fowergram.observability.gc_survey import ChildSurvey, SurveyFailed
from fowergram.observability.metrics import Metrics

log = logging.getLogger(__name__)

# Of objects frozen without a collection, the share assumed to be garbage until a look
# measures it. Most of a burst's objects die by reference counting, frozen or not (of
# the ~450,000 of 10,000 subscriptions at once, ~330,000 were freed within seconds);
# only cycles stay. A quarter errs on the safe side: a look follows a big burst.
UNSWEPT_GARBAGE_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class FreezerOptions:
    interval_s: float = 0.25
    min_objects: int = 20_000
    # Objects a step may collect: walking 100,000 takes ~40-50 ms here. More than that
    # (a burst between two steps) are frozen unswept.
    max_walk: int = 100_000
    thaw_ratio: float = 0.5
    # Look at least this often once something was frozen since the last look.
    look_after_s: float = 3600.0
    # Objects a closed socket leaves in frozen cycles, until a look has measured it: ~3 of
    # a socket's ~47 by the `close` audit of loadtests/bench_ws.py (0.1 by its churn
    # audit); the first estimate errs on the safe side by a factor of three.
    leak_per_close: float = 10.0
    # Look in a forked child (gc_survey.py); False: every look is a thaw.
    survey_in_child: bool = True
    survey_timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Ledger:
    live: int  # objects live at the last look (a thaw or a survey), or at start-up
    closed: int = 0  # sockets closed in this process then
    garbage: int = 0  # frozen garbage found then (none after a thaw: it freed it)
    leak_per_close: float = 10.0  # objects a closed socket leaves (last measured)
    added: int = 0  # objects frozen since
    looked_at: float = 0.0  # monotonic time of that look
    unswept: int = 0  # of `added`, those frozen without a collection

    def leaked(self, closed_now: int) -> float:
        """Frozen garbage: what the last look found, and an estimate for the closes and
        the unswept freezes since."""
        closes = (closed_now - self.closed) * self.leak_per_close
        return self.garbage + closes + self.unswept * UNSWEPT_GARBAGE_SHARE

    def budget(self, options: FreezerOptions) -> float:
        """The frozen garbage allowed before a thaw."""
        return options.thaw_ratio * max(self.live, options.min_objects)


class Step(enum.Enum):
    WAIT = "wait"
    COLLECT = "collect"  # the unfrozen objects, then freeze the survivors if many
    FREEZE = "freeze"  # too many to walk now: freeze them as they are
    SURVEY = "survey"  # look for the frozen garbage in a forked child
    THAW = "thaw"


def next_step(
    ledger: Ledger,
    unfrozen: int,
    closed_now: int,
    now: float,
    options: FreezerOptions,
    *,
    surveying: bool = False,
) -> Step:
    """What to do with `unfrozen` objects tracked and not frozen (`surveying`: a child
    is looking already)."""
    if not surveying:
        budget = ledger.budget(options)
        if ledger.garbage > budget:
            return Step.THAW  # found, not estimated
        due = ledger.added > 0 and now - ledger.looked_at >= options.look_after_s
        if due or ledger.leaked(closed_now) > budget:
            return Step.SURVEY if options.survey_in_child else Step.THAW
    if unfrozen < options.min_objects:
        return Step.WAIT
    if unfrozen > options.max_walk:
        return Step.FREEZE
    return Step.COLLECT


def measured_leak(collected: int, closed: int, previous: float) -> float:
    """Objects per closed socket a look found; the previous figure if too few closed to
    tell. Never under one object: a leak thought to be nothing would never be looked at."""
    if closed < 100:
        return previous
    return max(collected / closed, 1.0)


def looked(previous: Ledger, garbage: int, live: int, closed: int, now: float) -> Ledger:
    """The ledger after a look that found `garbage` of which `previous` knew part."""
    leak = measured_leak(
        max(garbage - previous.garbage, 0), closed - previous.closed, previous.leak_per_close
    )
    return Ledger(live, closed, garbage, leak, looked_at=now)


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
        self._survey: ChildSurvey | None = None
        self.ledger = Ledger(
            live=gc.get_freeze_count(),
            closed=closed(),
            leak_per_close=options.leak_per_close,
            looked_at=clock(),
        )

    def step(self) -> Step:
        # All generations: closing sockets frees old objects, which lowers the count
        # that triggers young collections, so the youngest can grow large too.
        unfrozen = len(gc.get_objects())
        closed = self._closed()
        if self._survey is not None:
            self._read_survey(closed)
        step = next_step(
            self.ledger,
            unfrozen,
            closed,
            self._clock(),
            self._options,
            surveying=self._survey is not None,
        )
        if step is Step.COLLECT:
            self._collect(self._options.min_objects)
        elif step is Step.FREEZE:
            self._freeze_unswept(unfrozen)
        elif step is Step.SURVEY:
            # Nothing left unfrozen: after the fork, the first write to each page parent
            # and child share copies it (~2 µs), and the next collection would write to
            # every unfrozen object's page at once (~130 ms more at 10,000 sockets).
            self._collect(1)
            self._start_survey(closed)
        elif step is Step.THAW:
            self._thaw(closed)
        return step

    def _collect(self, min_kept: int) -> None:
        """Collect what is not frozen; freeze the survivors if at least `min_kept`."""
        gc.collect()  # what is not frozen only: frozen garbage would never go
        kept = len(gc.get_objects())
        if kept >= min_kept:
            gc.freeze()
            self.ledger = replace(self.ledger, added=self.ledger.added + kept)
            self._metrics.gc_freezes.labels("freeze").inc()

    def _freeze_unswept(self, unfrozen: int) -> None:
        """A burst too large to walk without a long pause: frozen as it is (`gc.freeze`
        moves whole generations, whatever their size); its garbage is for a look."""
        gc.freeze()
        ledger = self.ledger
        self.ledger = replace(
            ledger, added=ledger.added + unfrozen, unswept=ledger.unswept + unfrozen
        )
        self._metrics.gc_freezes.labels("freeze_unswept").inc()

    @property
    def survey(self) -> ChildSurvey | None:
        """The survey under way, if any."""
        return self._survey

    def stop(self) -> None:
        """Stop a survey under way (its child is killed and reaped)."""
        if self._survey is not None:
            self._survey.cancel()
            self._survey = None

    def _start_survey(self, closed: int) -> None:
        try:
            self._survey = ChildSurvey.start(
                closed, timeout_s=self._options.survey_timeout_s, clock=self._clock
            )
        except SurveyFailed:
            self._survey_failed(closed)
            return
        self._metrics.gc_freezes.labels("survey").inc()

    def _read_survey(self, closed: int) -> None:
        assert self._survey is not None
        try:
            survey = self._survey.poll()
        except SurveyFailed:
            self._survey_failed(closed)
            return
        if survey is None:
            return
        self._survey = None
        previous = self.ledger
        self.ledger = looked(previous, survey.garbage, survey.live, survey.closed, self._clock())
        log.info(
            "collector surveyed",
            extra={
                "gc_frozen_garbage": survey.garbage,
                "gc_live": survey.live,
                "gc_sockets_closed": survey.closed - previous.closed,
                "gc_leak_per_close": round(self.ledger.leak_per_close, 1),
                "gc_survey_s": round(survey.seconds, 2),
            },
        )

    def _survey_failed(self, closed: int) -> None:
        """A look that could not be had in a child is had here: a thaw."""
        self._survey = None
        log.warning("collector survey failed: thawing instead", exc_info=True)
        self._thaw(closed)

    def _thaw(self, closed: int) -> None:
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        live = len(gc.get_objects())
        gc.freeze()
        previous = self.ledger
        self.ledger = replace(looked(previous, collected, live, closed, self._clock()), garbage=0)
        self._metrics.gc_freezes.labels("thaw").inc()
        log.info(
            "collector thawed",
            extra={
                "gc_collected": collected,
                "gc_live": live,
                "gc_sockets_closed": closed - previous.closed,
                "gc_leak_per_close": round(self.ledger.leak_per_close, 1),
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
        freezer.stop()
