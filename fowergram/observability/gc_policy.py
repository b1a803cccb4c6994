"""The process's garbage-collector policy, and the collector's pauses as metrics.

A hub holding thousands of sockets keeps millions of long-lived objects, and CPython's
full collection walks every one of them: at the default thresholds (700, 10, 10) that
froze the server for 0.65 s with 1,000 sockets and 2.9 s with 10,000, every few seconds
under load. The levers, applied once the app is ready:

- `gc.freeze()` after start-up: the modules, classes, the schema and the pools move to a
  permanent generation no collection walks again. Safe: what start-up builds lives as
  long as the process.
- Freezing again what the sockets build (gc_freezer.py), so full collections walk only
  what is new. Not safe alone: a reference cycle among frozen objects is never
  collected, and closed sockets leave cycles; the freezer estimates that leak, has a
  forked child count it (gc_survey.py) and thaws (one full collection) before it passes
  a bound.
- Thresholds: a higher first threshold makes young collections rarer (each one walks
  the young objects only; deliveries promote fewer objects in flight).

The pauses are exported (`fowergram_gc_pause_seconds` by generation, timed through
`gc.callbacks`) with the objects the collector tracks, so a deployment sees what a
policy does rather than guessing.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge

from fowergram.config import Settings
from fowergram.observability.gc_freezer import FreezerOptions, freezing
from fowergram.observability.metrics import Metrics

log = logging.getLogger(__name__)

# Counting the tracked objects walks them (~25 ns each): the ones a collection walks at
# most every 30 s whatever the scrape interval, the frozen ones (millions once sockets are
# frozen: ~0.1 s) every 10 minutes.
TRACKED_SAMPLE_INTERVAL_S = 30.0
FROZEN_SAMPLE_INTERVAL_S = 600.0

Thresholds = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class CollectorPolicy:
    freeze_after_start: bool = True
    thresholds: Thresholds | None = None  # None: leave Python's (700, 10, 10)
    refreeze: FreezerOptions | None = None  # None: freeze once, after start-up only

    @classmethod
    def from_settings(cls, settings: Settings) -> CollectorPolicy:
        refreeze = None
        if settings.gc_refreeze_interval_s > 0:
            refreeze = FreezerOptions(
                interval_s=settings.gc_refreeze_interval_s,
                thaw_ratio=settings.gc_thaw_ratio,
                survey_in_child=settings.gc_survey_in_child,
            )
        return cls(
            settings.gc_freeze_after_start, parse_thresholds(settings.gc_thresholds), refreeze
        )


def parse_thresholds(text: str) -> Thresholds | None:
    """Three counts like `50000,20,100`; None for an empty text (Python's own)."""
    if not text.strip():
        return None
    parts = [int(part) for part in text.split(",")]
    if len(parts) != 3 or min(parts) < 0:
        raise ValueError(f"expected three counts like 50000,20,100, got {text!r}")
    return parts[0], parts[1], parts[2]


class PauseRecorder:
    """A `gc.callbacks` entry timing every collection into the pause histogram."""

    __slots__ = ("_histograms", "_started")

    def __init__(self, metrics: Metrics) -> None:
        self._started = 0.0
        # One child per generation, made now: the callback must not allocate labels.
        self._histograms = [metrics.gc_pause.labels(str(g)) for g in range(3)]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._histograms[info["generation"]].observe(time.perf_counter() - self._started)


class TrackedSampler:
    """Refreshes the tracked-objects gauge before a scrape, at most every `interval_s`
    (the frozen count every `frozen_interval_s`)."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        interval_s: float = TRACKED_SAMPLE_INTERVAL_S,
        frozen_interval_s: float = FROZEN_SAMPLE_INTERVAL_S,
    ) -> None:
        self._metrics = metrics
        self._intervals = (interval_s, frozen_interval_s)
        self._last = [-interval_s, -frozen_interval_s]

    def __call__(self) -> None:
        now = time.monotonic()
        tracked = self._metrics.gc_tracked_objects
        if now - self._last[0] >= self._intervals[0]:
            self._last[0] = now
            for generation in range(3):
                tracked.labels(str(generation)).set(len(gc.get_objects(generation)))
        if now - self._last[1] >= self._intervals[1]:
            self._last[1] = now
            tracked.labels("frozen").set(gc.get_freeze_count())


def sockets_closed(metrics: Metrics) -> Callable[[], int]:
    """Sockets this process has closed so far: accepted minus open (its own metrics)."""

    def value(metric: Counter | Gauge, name: str) -> float:
        for family in metric.collect():
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
        return 0.0

    def closed() -> int:
        accepted = value(metrics.ws_connections, "fowergram_websocket_connections_total")
        open_now = value(metrics.ws_open, "fowergram_websocket_connections_open")
        return int(accepted - open_now)

    return closed


def apply(policy: CollectorPolicy) -> dict[str, Any]:
    """Set the thresholds and freeze what start-up made; what was done, for the log."""
    if policy.thresholds is not None:
        gc.set_threshold(*policy.thresholds)
    done: dict[str, Any] = {"gc_thresholds": list(gc.get_threshold())}
    if policy.freeze_after_start:
        started = time.perf_counter()
        # Start-up's garbage first (import-time cycles): frozen, it would never go.
        gc.collect()
        gc.freeze()
        done["gc_frozen"] = gc.get_freeze_count()
        done["gc_freeze_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return done


@contextlib.asynccontextmanager
async def collector_policy(policy: CollectorPolicy, metrics: Metrics) -> AsyncIterator[None]:
    """Apply `policy` and time the collector while the app runs; undo both on exit (a
    test process runs many apps: their frozen objects return to the collector)."""
    recorder = PauseRecorder(metrics)
    gc.callbacks.append(recorder)
    metrics.add_sampler(TrackedSampler(metrics))
    previous = gc.get_threshold()
    log.info("collector policy", extra=apply(policy))
    try:
        if policy.refreeze is None:
            yield
        else:
            async with freezing(policy.refreeze, metrics, sockets_closed(metrics)):
                yield
    finally:
        gc.callbacks.remove(recorder)
        gc.set_threshold(*previous)
        if policy.freeze_after_start or policy.refreeze is not None:
            gc.unfreeze()
