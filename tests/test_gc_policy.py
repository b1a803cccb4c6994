"""The collector policy: thresholds and the freeze after start-up, pauses and tracked
objects as metrics, and the freezer whose frozen garbage a thaw frees (the bound on
what freezing leaks), on this process's real collector."""

from __future__ import annotations

import asyncio
import gc
import re
import weakref
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from support.live_server import LiveServer

from fowergram.config import ConfigError, load_settings
from fowergram.observability.gc_freezer import (
    Freezer,
    FreezerOptions,
    Ledger,
    Step,
    freezing,
    measured_leak,
    next_step,
)
from fowergram.observability.gc_policy import (
    CollectorPolicy,
    TrackedSampler,
    collector_policy,
    parse_thresholds,
    sockets_closed,
)
from fowergram.observability.metrics import Metrics


@pytest.fixture
def collector() -> Iterator[None]:
    """Whatever a test does to the collector is undone (other tests share the process)."""
    thresholds = gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    gc.callbacks[:] = callbacks


class Node:
    __slots__ = ("__weakref__", "other")

    def __init__(self) -> None:
        self.other: Node | None = None


def _cycles(count: int) -> list[weakref.ref[Node]]:
    """`count` two-node reference cycles, unreachable once this returns."""
    refs = []
    for _ in range(count):
        a, b = Node(), Node()
        a.other, b.other = b, a
        refs.append(weakref.ref(a))
    return refs


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.split("{")[0].split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_thresholds_are_parsed() -> None:
    assert parse_thresholds("50000,20,100") == (50000, 20, 100)
    assert parse_thresholds("0,10,10") == (0, 10, 10)  # automatic collection off
    assert parse_thresholds("") is None
    with pytest.raises(ValueError, match="three counts"):
        parse_thresholds("700,10")


@pytest.mark.parametrize("bad", ["700,10", "a,b,c", "-1,10,10", "700 10 10", "1,2,3,4"])
def test_bad_thresholds_stop_start_up(bad: str) -> None:
    with pytest.raises(ConfigError, match="GC_THRESHOLDS"):
        load_settings(gc_thresholds=bad)


def test_settings_make_the_policy() -> None:
    policy = CollectorPolicy.from_settings(
        load_settings(gc_thresholds="", gc_freeze_after_start=False, gc_refreeze_interval_s=0)
    )
    assert policy == CollectorPolicy(freeze_after_start=False, thresholds=None, refreeze=None)
    policy = CollectorPolicy.from_settings(
        load_settings(gc_thresholds="1000,5,5", gc_refreeze_interval_s=2, gc_thaw_ratio=0.5)
    )
    assert policy.thresholds == (1000, 5, 5)
    assert policy.refreeze == FreezerOptions(interval_s=2, thaw_ratio=0.5)
    with pytest.raises(ConfigError, match="GC_THAW_RATIO"):
        load_settings(gc_thaw_ratio=0)


def test_next_step_collects_growth_and_thaws_on_closes() -> None:
    options = FreezerOptions(min_objects=1000, thaw_ratio=1.0, thaw_after_s=3600)
    # 10,000 live objects at the last thaw, 50 sockets closed by then, 100 objects each.
    ledger = Ledger(base=10_000, closed=50, leak_per_close=100.0, added=0, thawed_at=0.0)
    assert next_step(ledger, 999, 50, 10.0, options) is Step.WAIT
    assert next_step(ledger, 1000, 50, 10.0, options) is Step.COLLECT
    # Growth alone never thaws, however large.
    assert next_step(ledger, 5_000_000, 50, 10.0, options) is Step.COLLECT
    # 100 closed since: 10,000 objects estimated leaked, exactly the budget.
    assert next_step(ledger, 10, 150, 10.0, options) is Step.WAIT
    # Past it: count the frozen objects first (sockets opened since may have made room)...
    assert next_step(ledger, 10, 151, 10.0, options) is Step.COUNT
    # ... and thaw when the count leaves no room: 20,100 frozen, 10,100 of them garbage.
    full = replace(ledger, counted=20_100, counted_leaked=10_100.0, counted_closed=151)
    assert full.live() == 10_000
    assert next_step(full, 10, 151, 10.0, options) is Step.THAW
    # With 50,000 frozen, 39,900 are live: room for 399 closes, then count again.
    roomy = replace(full, counted=50_000)
    assert next_step(roomy, 10, 151, 10.0, options) is Step.WAIT
    assert next_step(roomy, 10, 449, 10.0, options) is Step.WAIT
    assert next_step(roomy, 10, 450, 10.0, options) is Step.COUNT
    # Overdue: something frozen since the last thaw and the time passed.
    grown = Ledger(base=10_000, closed=50, leak_per_close=100.0, added=1, thawed_at=0.0)
    assert next_step(grown, 10, 50, 3599.0, options) is Step.WAIT
    assert next_step(grown, 10, 50, 3600.0, options) is Step.THAW
    assert next_step(ledger, 10, 50, 3600.0, options) is Step.WAIT  # nothing frozen since
    # A tiny heap still gets `min_objects` of room.
    assert next_step(Ledger(base=0, leak_per_close=1.0), 10, 999, 1.0, options) is Step.WAIT


def test_the_leak_per_close_is_what_a_thaw_found() -> None:
    assert measured_leak(16_000, 100, 300.0) == 160.0
    assert measured_leak(16_000, 99, 300.0) == 300.0  # too few closed to tell
    assert measured_leak(0, 5_000, 300.0) == 1.0  # never nothing: it would never be looked at
    assert Ledger(base=0, closed=10, leak_per_close=2.5).leaked(14) == 10.0


def test_frozen_cycles_outlive_collections_until_a_thaw(collector: None) -> None:
    metrics = Metrics()
    closed = [0]
    keep = [Node() for _ in range(100)]  # live: must survive everything
    options = FreezerOptions(min_objects=1, thaw_ratio=1e9, leak_per_close=1.0)
    freezer = Freezer(options, metrics, lambda: closed[0], clock=lambda: 0.0)
    held = [[Node(), Node()] for _ in range(500)]
    for a, b in held:
        a.other, b.other = b, a
    refs = [weakref.ref(pair[0]) for pair in held]
    assert freezer.step() is Step.COLLECT
    assert freezer.ledger.added >= 1000
    assert gc.get_freeze_count() >= 1000
    del held, a, b  # the cycles die while frozen: no collection frees them
    gc.collect()
    assert all(ref() is not None for ref in refs)

    # 500 "sockets" closed, each thought to leave an object: past a budget near nothing.
    thawing = replace(options, thaw_ratio=1e-9)
    freezer = Freezer(thawing, metrics, lambda: closed[0], clock=lambda: 5.0)
    closed[0] = 500
    assert freezer.step() is Step.THAW
    assert all(ref() is None for ref in refs)
    assert freezer.ledger.closed == 500
    assert freezer.ledger.added == 0
    assert freezer.ledger.thawed_at == 5.0
    # What the thaw found, per closed "socket": at least the 1,000 nodes of 500 pairs.
    assert freezer.ledger.leak_per_close >= 2.0
    assert freezer.ledger.base >= len(keep)
    assert gc.get_freeze_count() >= len(keep)  # the survivors are frozen again
    assert all(isinstance(node, Node) for node in keep)
    text = metrics.render().decode()
    assert _sample(text, "fowergram_gc_freezes_total", action="freeze") == 1
    assert _sample(text, "fowergram_gc_freezes_total", action="thaw") == 1


def test_closes_within_the_room_sockets_opened_since_do_not_thaw(collector: None) -> None:
    """The budget follows the heap the sockets built, not only the one at start-up: a
    fresh process used to thaw (~400 ms at 10,000 sockets) after ~1,500 closes."""
    closed = [0]
    options = FreezerOptions(min_objects=1, thaw_ratio=0.5, leak_per_close=1.0)
    freezer = Freezer(options, Metrics(), lambda: closed[0], clock=lambda: 0.0)
    start_budget = options.thaw_ratio * max(freezer.ledger.base, options.min_objects)
    opened = [Node() for _ in range(40_000)]  # what sockets opened since hold
    assert freezer.step() is Step.COLLECT  # frozen
    closed[0] = int(start_budget) + 100  # past the start-up heap's budget
    assert freezer.step() in (Step.WAIT, Step.COLLECT)
    assert freezer.ledger.counted >= len(opened)
    assert freezer.ledger.counted_closed == closed[0]
    assert freezer.ledger.added > 0  # no thaw happened
    assert freezer.step() in (Step.WAIT, Step.COLLECT)  # counted already: no recount
    closed[0] = 10 * len(opened)  # far past the room: thaw
    assert freezer.step() is Step.THAW


def test_few_survivors_are_collected_not_frozen(collector: None) -> None:
    freezer = Freezer(FreezerOptions(min_objects=1, thaw_ratio=1e9), Metrics(), lambda: 0)
    refs = _cycles(200)  # unreachable but not yet collected
    assert freezer.step() is Step.COLLECT
    assert all(ref() is None for ref in refs)  # not frozen: freed by the step's collection
    huge = Freezer(FreezerOptions(min_objects=10**9), Metrics(), lambda: 0)
    assert huge.step() is Step.WAIT


async def test_freezing_runs_until_exit(collector: None) -> None:
    metrics = Metrics()
    options = FreezerOptions(interval_s=0.01, min_objects=1, thaw_ratio=1e9)
    async with freezing(options, metrics, lambda: 0) as freezer:
        for _ in range(200):
            if freezer.ledger.added:
                break
            await asyncio.sleep(0.01)
    assert freezer.ledger.added > 0
    added = freezer.ledger.added
    await asyncio.sleep(0.05)
    assert freezer.ledger.added == added  # stopped on exit


def test_closed_sockets_are_read_from_the_metrics() -> None:
    metrics = Metrics()
    closed = sockets_closed(metrics)
    assert closed() == 0
    metrics.ws_connections.inc(5)
    metrics.ws_open.set(3)
    assert closed() == 2


async def test_the_policy_times_collections_and_is_undone_on_exit(collector: None) -> None:
    metrics = Metrics()
    before = gc.get_threshold()
    callbacks = len(gc.callbacks)
    async with collector_policy(CollectorPolicy(True, (12345, 11, 13)), metrics):
        assert gc.get_threshold() == (12345, 11, 13)
        assert gc.get_freeze_count() > 0
        assert len(gc.callbacks) == callbacks + 1
        gc.collect()
        gc.collect(0)
        text = metrics.render().decode()
        assert _sample(text, "fowergram_gc_pause_seconds_count", generation="2") >= 1
        assert _sample(text, "fowergram_gc_pause_seconds_count", generation="0") >= 1
        assert _sample(text, "fowergram_gc_pause_seconds_sum", generation="2") > 0
        assert _sample(text, "fowergram_gc_tracked_objects", generation="frozen") > 0
        assert _sample(text, "fowergram_gc_tracked_objects", generation="2") >= 0
    assert gc.get_threshold() == before
    assert len(gc.callbacks) == callbacks
    assert gc.get_freeze_count() == 0


def test_a_running_server_reports_its_collector(live_server: LiveServer) -> None:
    text = httpx.get(f"{live_server.http_url}/metrics").text
    # (Other tests here unfreeze this process: what is frozen is not asserted.)
    tracked = [_sample(text, "fowergram_gc_tracked_objects", generation=g) for g in ("0", "1", "2")]
    assert sum(tracked) > 1000
    assert _sample(text, "fowergram_gc_tracked_objects", generation="frozen") >= 0
    assert _sample(text, "fowergram_gc_pause_seconds_count", generation="0") >= 0


def test_tracked_objects_are_counted_at_most_so_often() -> None:
    metrics = Metrics()
    sampler = TrackedSampler(metrics, interval_s=3600, frozen_interval_s=3600)
    sampler()
    text = metrics.render().decode()  # (render samples too: within the interval, no-op)
    assert _sample(text, "fowergram_gc_tracked_objects", generation="2") >= 0
    metrics.gc_tracked_objects.labels("2").set(-1)
    sampler()
    assert _sample(metrics.render().decode(), "fowergram_gc_tracked_objects", generation="2") == -1
    eager = TrackedSampler(metrics, interval_s=0, frozen_interval_s=0)
    eager()
    assert _sample(metrics.render().decode(), "fowergram_gc_tracked_objects", generation="2") >= 0
