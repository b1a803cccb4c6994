"""The collector policy: thresholds and the freeze after start-up, pauses and tracked
objects as metrics, and the freezer whose frozen garbage a thaw frees (the bound on
what freezing leaks), on this process's real collector."""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import re
import signal
import socket
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from support.live_server import LiveServer

from fowergram.config import ConfigError, load_settings
from fowergram.observability.gc_freezer import (
    UNSWEPT_GARBAGE_SHARE,
    Freezer,
    FreezerOptions,
    Ledger,
    Step,
    freezing,
    looked,
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
    # The test process's own objects out of the way (over a step's `max_walk` already):
    # a freezer step sees only what the test makes.
    gc.collect()
    gc.freeze()
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
    policy = CollectorPolicy.from_settings(load_settings(gc_survey_in_child=False))
    assert policy.refreeze is not None
    assert not policy.refreeze.survey_in_child
    with pytest.raises(ConfigError, match="GC_THAW_RATIO"):
        load_settings(gc_thaw_ratio=0)


def test_next_step_collects_growth_and_looks_on_closes() -> None:
    options = FreezerOptions(min_objects=1000, thaw_ratio=1.0, look_after_s=3600)
    # 10,000 live objects at the last look, 50 sockets closed by then, 100 objects each.
    ledger = Ledger(live=10_000, closed=50, leak_per_close=100.0, added=0, looked_at=0.0)
    assert next_step(ledger, 999, 50, 10.0, options) is Step.WAIT
    assert next_step(ledger, 1000, 50, 10.0, options) is Step.COLLECT
    # Growth alone never looks, however large; past `max_walk` it is frozen unswept.
    assert next_step(ledger, 100_000, 50, 10.0, options) is Step.COLLECT
    assert next_step(ledger, 5_000_000, 50, 10.0, options) is Step.FREEZE
    # 100 closed since: 10,000 objects estimated leaked, exactly the budget.
    assert next_step(ledger, 10, 150, 10.0, options) is Step.WAIT
    # Past it: a child looks; without surveys the look is a thaw.
    assert next_step(ledger, 10, 151, 10.0, options) is Step.SURVEY
    no_child = replace(options, survey_in_child=False)
    assert next_step(ledger, 10, 151, 10.0, no_child) is Step.THAW
    # While a child looks, nothing else looks; growth is still frozen.
    assert next_step(ledger, 10, 151, 10.0, options, surveying=True) is Step.WAIT
    assert next_step(ledger, 1000, 151, 10.0, options, surveying=True) is Step.COLLECT
    # A survey that found more garbage than the budget: thaw, whatever the estimate.
    found = replace(ledger, garbage=10_001, closed=151)
    assert next_step(found, 10, 151, 10.0, options) is Step.THAW
    assert next_step(found, 10, 151, 10.0, options, surveying=True) is Step.WAIT
    # One that found little: the estimate starts from it.
    little = replace(ledger, garbage=9_000, closed=151)
    assert little.leaked(160) == 9_000 + 9 * 100
    assert next_step(little, 10, 161, 10.0, options) is Step.WAIT  # 10,000: the budget
    assert next_step(little, 10, 162, 10.0, options) is Step.SURVEY
    # Due: something frozen since the last look and the time passed.
    grown = replace(ledger, added=1)
    assert next_step(grown, 10, 50, 3599.0, options) is Step.WAIT
    assert next_step(grown, 10, 50, 3600.0, options) is Step.SURVEY
    assert next_step(ledger, 10, 50, 3600.0, options) is Step.WAIT  # nothing frozen since
    # A tiny heap still gets `min_objects` of room.
    assert next_step(Ledger(live=0, leak_per_close=1.0), 10, 999, 1.0, options) is Step.WAIT


def test_a_burst_too_large_to_walk_is_frozen_unswept_and_looked_at_soon() -> None:
    options = FreezerOptions(min_objects=1000, max_walk=5000, thaw_ratio=1.0)
    ledger = Ledger(live=10_000, closed=50, leak_per_close=100.0)
    assert next_step(ledger, 5000, 50, 10.0, options) is Step.COLLECT
    assert next_step(ledger, 5001, 50, 10.0, options) is Step.FREEZE
    assert next_step(ledger, 5001, 50, 10.0, options, surveying=True) is Step.FREEZE
    # A share of what was frozen unswept counts as garbage: 40,000 of them, the budget.
    burst = replace(ledger, added=40_000, unswept=40_000)
    assert burst.leaked(50) == 40_000 * UNSWEPT_GARBAGE_SHARE == 10_000
    assert next_step(burst, 10, 50, 10.0, options) is Step.WAIT
    assert next_step(replace(burst, unswept=40_004), 10, 50, 10.0, options) is Step.SURVEY
    # A look measures them: after it, none is unswept.
    assert looked(burst, garbage=300, live=50_000, closed=50, now=11.0).unswept == 0


def test_a_burst_is_frozen_without_a_collection(collector: None) -> None:
    metrics = Metrics()
    options = FreezerOptions(min_objects=1, max_walk=20_000, thaw_ratio=1e9)
    freezer = Freezer(options, metrics, lambda: 0)
    gc.disable()  # no automatic collection may free the cycles before the step
    try:
        refs = _cycles(50)  # unreachable, not collected yet
        burst: list[list[object]] = [[] for _ in range(30_000)]  # live, more than a step may walk
        frozen_before = gc.get_freeze_count()
        assert freezer.step() is Step.FREEZE
    finally:
        gc.enable()
    assert gc.get_freeze_count() >= frozen_before + len(burst)
    assert all(ref() is not None for ref in refs)  # frozen with the rest, not collected
    assert freezer.ledger.unswept >= len(burst)
    assert freezer.ledger.added == freezer.ledger.unswept
    text = metrics.render().decode()
    assert _sample(text, "fowergram_gc_freezes_total", action="freeze_unswept") == 1
    # The next step, with little new, collects as usual.
    assert freezer.step() is Step.COLLECT


def test_the_leak_per_close_is_what_a_look_found() -> None:
    assert measured_leak(16_000, 100, 300.0) == 160.0
    assert measured_leak(16_000, 99, 300.0) == 300.0  # too few closed to tell
    assert measured_leak(0, 5_000, 300.0) == 1.0  # never nothing: it would never be looked at
    assert Ledger(live=0, closed=10, leak_per_close=2.5).leaked(14) == 10.0
    # A look counts only the garbage the previous one did not know of.
    before = Ledger(live=1_000, closed=100, garbage=600, leak_per_close=5.0)
    after = looked(before, garbage=2_600, live=3_000, closed=600, now=7.0)
    assert after == Ledger(3_000, 600, 2_600, leak_per_close=4.0, looked_at=7.0)


def _frozen_cycles(freezer: Freezer, pairs: int) -> list[weakref.ref[Node]]:
    """`pairs` two-node cycles frozen by `freezer`, then dropped: frozen garbage."""
    held = [[Node(), Node()] for _ in range(pairs)]
    for a, b in held:
        a.other, b.other = b, a
    refs = [weakref.ref(pair[0]) for pair in held]
    assert freezer.step() is Step.COLLECT
    assert freezer.ledger.added >= 2 * pairs
    del held, a, b
    return refs


def test_frozen_cycles_outlive_collections_until_a_thaw(collector: None) -> None:
    metrics = Metrics()
    closed = [0]
    keep = [Node() for _ in range(100)]  # live: must survive everything
    options = FreezerOptions(min_objects=1, thaw_ratio=1e9, leak_per_close=1.0)
    freezer = Freezer(options, metrics, lambda: closed[0], clock=lambda: 0.0)
    refs = _frozen_cycles(freezer, 500)
    assert gc.get_freeze_count() >= 1000
    gc.collect()  # the cycles died while frozen: no collection frees them
    assert all(ref() is not None for ref in refs)

    # 500 "sockets" closed, each thought to leave an object: past a budget near nothing.
    thawing = replace(options, thaw_ratio=1e-9, survey_in_child=False)
    freezer = Freezer(thawing, metrics, lambda: closed[0], clock=lambda: 5.0)
    closed[0] = 500
    assert freezer.step() is Step.THAW
    assert all(ref() is None for ref in refs)
    assert freezer.ledger.closed == 500
    assert freezer.ledger.added == 0
    assert freezer.ledger.garbage == 0  # freed
    assert freezer.ledger.looked_at == 5.0
    # What the thaw found, per closed "socket": at least the 1,000 nodes of 500 pairs.
    assert freezer.ledger.leak_per_close >= 2.0
    assert freezer.ledger.live >= len(keep)
    assert gc.get_freeze_count() >= len(keep)  # the survivors are frozen again
    assert all(isinstance(node, Node) for node in keep)
    text = metrics.render().decode()
    assert _sample(text, "fowergram_gc_freezes_total", action="freeze") == 1
    assert _sample(text, "fowergram_gc_freezes_total", action="thaw") == 1


def _until_surveyed(freezer: Freezer) -> None:
    for _ in range(2000):
        time.sleep(0.005)
        freezer.step()
        if freezer.survey is None:
            return
    raise AssertionError("the survey never reported")


def test_a_child_finds_the_frozen_garbage_without_freeing_it(collector: None) -> None:
    """The survey's collection runs in a forked child: this process learns how much frozen
    garbage it holds and pauses only for the fork; a thaw comes when it is too much."""
    metrics = Metrics()
    closed = [0]
    keep = [Node() for _ in range(100)]
    options = FreezerOptions(min_objects=1, thaw_ratio=1.0, leak_per_close=1e9)
    freezer = Freezer(options, metrics, lambda: closed[0], clock=lambda: 0.0)
    refs = _frozen_cycles(freezer, 5_000)
    freezer.ledger = replace(freezer.ledger, live=1_000_000)  # room for what it finds
    closed[0] = 1  # one "socket" closed, thought to leave a billion objects: look
    assert freezer.step() is Step.SURVEY
    assert freezer.step() in (Step.WAIT, Step.COLLECT)  # no second child while one looks
    _until_surveyed(freezer)
    # The child found the 10,000 nodes; here they are untouched (no collection ran).
    assert freezer.ledger.garbage >= 10_000
    assert all(ref() is not None for ref in refs)
    assert freezer.ledger.closed == 1
    assert freezer.ledger.live >= len(keep) + 10_000 + 1  # what the child counted
    assert freezer.ledger.leak_per_close == 1e9  # too few closed to tell
    assert _sample(metrics.render().decode(), "fowergram_gc_freezes_total", action="survey") == 1
    # Within budget: nothing more happens.
    assert freezer.step() in (Step.WAIT, Step.COLLECT)
    assert all(ref() is not None for ref in refs)

    # The same garbage against a budget it passes: the next step thaws.
    strict = Freezer(replace(options, thaw_ratio=0.01), metrics, lambda: closed[0])
    strict.ledger = freezer.ledger
    assert strict.step() is Step.THAW
    assert all(ref() is None for ref in refs)
    assert strict.ledger.garbage == 0
    assert all(isinstance(node, Node) for node in keep)


class Tattler:
    """A frozen cycle whose finalizer writes to a socket this process uses."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.me = self

    def __del__(self) -> None:
        self.sock.send(b"finalized in the child")


def test_the_child_writes_to_nothing_it_shares(collector: None, tmp_path: Path) -> None:
    """Not to a socket (a finalizer in the child), nor to a file by name (a collector
    callback, as the pause metrics and probes are)."""
    ours, theirs = socket.socketpair()
    parent = os.getpid()
    tattled = tmp_path / "collected in the child"

    def callback(phase: str, info: dict[str, int]) -> None:
        if os.getpid() != parent:
            tattled.write_text(phase)

    gc.callbacks.append(callback)
    try:
        freezer = Freezer(
            FreezerOptions(min_objects=1, thaw_ratio=1.0, leak_per_close=1e9),
            Metrics(),
            lambda: 1,
            clock=lambda: 0.0,
        )
        held = Tattler(ours)
        tattler = weakref.ref(held)
        assert freezer.step() is Step.COLLECT
        del held  # frozen garbage now
        freezer.ledger = replace(freezer.ledger, live=1_000_000, closed=0)
        assert freezer.step() is Step.SURVEY
        _until_surveyed(freezer)
        assert tattler() is not None  # found in the child, finalized there only
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):
            theirs.recv(100)
        assert not tattled.exists()
    finally:
        gc.unfreeze()
        gc.collect()  # the finalizer runs here, on the socket still open
        assert theirs.recv(100) == b"finalized in the child"
        ours.close()
        theirs.close()


class Sleeper:
    """A frozen cycle whose finalizer hangs in any process but the one that made it."""

    def __init__(self) -> None:
        self.parent = os.getpid()
        self.me = self

    def __del__(self) -> None:
        if os.getpid() != self.parent:
            time.sleep(60)


def test_a_survey_that_cannot_start_or_hangs_becomes_a_thaw(
    collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    options = FreezerOptions(
        min_objects=1, thaw_ratio=1.0, leak_per_close=1e9, survey_timeout_s=10.0
    )
    freezer = Freezer(options, Metrics(), lambda: 1, clock=lambda: now[0])
    sleeper = Sleeper()
    refs: Sequence[Callable[[], object]] = [*_frozen_cycles(freezer, 100), weakref.ref(sleeper)]
    del sleeper
    freezer.ledger = replace(freezer.ledger, live=1_000_000, closed=0)
    # A child that does not report in time is killed and reaped; the look becomes a thaw.
    assert freezer.step() is Step.SURVEY
    survey = freezer.survey
    assert survey is not None
    time.sleep(0.2)
    assert freezer.step() in (Step.WAIT, Step.COLLECT)  # still looking
    assert freezer.survey is survey
    now[0] = 11.0
    assert freezer.step() in (Step.WAIT, Step.COLLECT)
    assert all(ref() is None for ref in refs)  # thawed
    assert freezer.survey is None
    with pytest.raises(ChildProcessError):
        os.waitpid(survey.pid, os.WNOHANG)  # reaped
    # A fork that fails: thaw at once.
    refs = _frozen_cycles(freezer, 100)
    freezer.ledger = replace(freezer.ledger, live=1_000_000, garbage=0, closed=0)

    def no_fork() -> int:
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    monkeypatch.setattr(os, "fork", no_fork)
    assert freezer.step() is Step.SURVEY
    assert all(ref() is None for ref in refs)
    assert freezer.ledger.closed == 1
    assert freezer.ledger.garbage == 0


async def test_a_survey_under_way_is_stopped_on_exit(collector: None) -> None:
    options = FreezerOptions(interval_s=0.01, min_objects=1, thaw_ratio=1.0, leak_per_close=1e9)
    async with freezing(options, Metrics(), lambda: 0) as freezer:
        for _ in range(200):
            if freezer.ledger.added:
                break
            await asyncio.sleep(0.01)
        freezer.ledger = replace(freezer.ledger, live=1_000_000, closed=-1)
        for _ in range(200):
            if freezer.survey is not None:
                break
            await asyncio.sleep(0.01)
        survey = freezer.survey
        assert survey is not None
        os.kill(survey.pid, signal.SIGSTOP)  # it would never finish alone
    assert freezer.survey is None
    with pytest.raises(ChildProcessError):
        os.waitpid(survey.pid, os.WNOHANG)


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
