"""The broadcast scenario of the WebSocket benchmark: every open socket watching one
post's `postActivity` (loadtests/ws_watch.py), events published on the post's core NATS
subject at a fixed rate; the deliveries per second and their latency where the sockets
receive them, the server's CPU (and its kernel part) and the generator's.

The server shares one execution among identical subscriptions (fowergram/realtime/
multiplex.py), so an event costs one execution and one encoding, then a frame per
watcher: this measures the fan-out. With a rate of 0 the rate grows by half each step
until one is not kept up, and the highest kept up is the final run's.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from nats.aio.client import Client as NATS

from loadtests.sampling import Sampler
from loadtests.ws_sockets import CpuWindow, GcLog, PingProbe, server_quiet, until
from loadtests.ws_watch import WATCH, WATCH_ID, BroadcastPublisher
from loadtests.ws_wire import Stats, WsClient

DRAIN_S = 2.0
JOIN_PROOFS = 5  # events published at most to see every watcher live
# A rate is kept up when every watcher has every event this soon after the last publish.
# Not a latency bound: with 10,000 watchers one event's fan-out alone takes ~100-200 ms
# (the median socket waits half of it), at any rate. A server falling behind ends the
# step with a backlog that grows with the step; one keeping up only finishes the last
# event's fan-out.
CATCH_UP_S = 0.5
MAX_EVENTS_PER_S = 1000.0  # the ladder's ceiling


@dataclass(frozen=True, slots=True)
class BroadcastFigures:
    rate: float  # target events/s
    watchers: int  # sockets watching when the run began
    seconds: float
    events: int  # published
    expected: int  # events x watchers
    delivered: int  # by the end of the drain
    catch_up_ms: float | None  # from the last publish to (99.5% of) all delivered; None: never
    deliveries_per_s: float  # delivered / seconds published
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int
    generator_cpu: float  # % of one core, while publishing
    generator_cores_busy: float  # % of its core(s) busy with anything (services, others)
    server_cpu: float
    server_kernel_cpu: float  # the part of server_cpu spent in the kernel (socket writes)
    longest_gap_ms: float  # between two deliveries (any sockets), while publishing
    longest_ping_ms: float  # the probe's longest round trip
    closed: int  # sockets the server closed during the run (slow consumers: 4429)
    gc_full: int | None  # the server's full collections during the run (None: not probed)
    gc_longest_ms: float | None

    def kept_up(self) -> bool:
        """Every watcher got (almost) every event, within CATCH_UP_S of the last publish."""
        return self.catch_up_ms is not None and self.catch_up_ms <= CATCH_UP_S * 1000

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BroadcastPlan:
    post_id: int
    rate: float  # events/s of the final run; 0: the highest the ladder kept up
    start_rate: float  # the ladder's first step
    step_s: float
    duration_s: float
    profile_seconds: int  # py-spy on the server during the final run (0: none)
    profile_out: Path


class CoresBusy:
    """How busy the generator's core(s) were since the window opened, whoever used them:
    the embedded NATS, PostgreSQL and Redis share them, and so may other people's work.
    Near 100%, the generator's side (not the server) may be what limits a run."""

    def __init__(self) -> None:
        self._cpus = sorted(os.sched_getaffinity(0))
        self._start = psutil.cpu_times(percpu=True)

    def percent(self) -> float:
        end = psutil.cpu_times(percpu=True)
        busy = total = 0.0
        for cpu in self._cpus:
            before, after = self._start[cpu], end[cpu]
            idle = after.idle + after.iowait - before.idle - before.iowait
            working = sum(
                getattr(after, name) - getattr(before, name)
                for name in ("user", "nice", "system", "irq", "softirq", "steal")
            )
            busy += working
            total += working + idle
        return busy / total * 100 if total else 0.0


def _percentile(values: list[float], fraction: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(fraction * 1000) - 1]


class Broadcast:
    """The scenario's state between runs: the publisher, the sockets' counters, the probe."""

    def __init__(
        self,
        publisher: BroadcastPublisher,
        stats: Stats,
        probe: PingProbe,
        gc_log: GcLog,
        server_pid: int,
    ) -> None:
        self.publisher = publisher
        self.stats = stats
        self.probe = probe
        self.gc_log = gc_log
        self.server_pid = server_pid
        self._server = psutil.Process(server_pid)
        self.watchers = 0

    async def watch(self, sockets: Collection[WsClient], post_id: int) -> dict[str, Any]:
        """Each socket subscribes to the post's activity; then one event proves how many
        of them are live (the server authorises each join with a query of its own)."""
        started = time.monotonic()
        subscribe = {
            "id": WATCH_ID,
            "type": "subscribe",
            "payload": {"query": WATCH, "variables": {"id": str(post_id)}},
        }
        for client in sockets:
            client.send(subscribe)
        # The server can look quiet before it has read the subscriptions (seen: 140 of
        # 10,000 live after the first quiet): prove again until every socket is live.
        proofs = 0
        while proofs < JOIN_PROOFS:
            proofs += 1
            await server_quiet(self.server_pid)
            joined_s = time.monotonic() - started  # an upper bound after a failed proof
            before = self.stats.deliveries
            await self.publisher.one()
            await until(functools.partial(self._delivered, before + len(sockets)), 10)
            self.watchers = self.stats.deliveries - before
            if self.watchers >= len(sockets):
                break
        return {
            "sockets": len(sockets),
            "live": self.watchers,
            "join_seconds": joined_s,
            "proofs": proofs,
        }

    def _delivered(self, total: int) -> bool:
        return self.stats.deliveries >= total

    async def run_at(self, rate: float, seconds: float) -> BroadcastFigures:
        """Publish at `rate` events/s for `seconds`, then wait (up to DRAIN_S) for the rest."""
        stats, probe = self.stats, self.probe
        delivered0, closed0 = stats.deliveries, sum(stats.closes.values())
        stats.latencies.clear()
        stats.restart_gaps()
        probe.restart()
        cpu, cores = CpuWindow(self.server_pid), CoresBusy()
        kernel0 = self._server.cpu_times().system
        wall_start = time.time()
        started = time.monotonic()
        events = await self.publisher.steady(rate, seconds)
        wall = time.monotonic() - started
        generator_cpu, server_cpu = cpu.percentages()
        cores_busy = cores.percent()
        kernel_cpu = (self._server.cpu_times().system - kernel0) / wall * 100
        longest_gap = stats.longest_gap
        expected = events * self.watchers
        drain_start = time.monotonic()
        await until(lambda: stats.deliveries - delivered0 >= 0.995 * expected, DRAIN_S)
        caught_up = time.monotonic() - drain_start
        all_in = stats.deliveries - delivered0 >= 0.995 * expected
        await until(lambda: stats.deliveries - delivered0 >= expected, DRAIN_S - caught_up)
        delivered = stats.deliveries - delivered0
        latencies = sorted((received - sent) * 1000 for sent, received in stats.latencies)
        collector = self.gc_log.window(wall_start, time.time())
        longest_ping = max([rtt * 1000 for rtt in probe.rtts], default=0.0)
        closed = sum(stats.closes.values()) - closed0
        figures = BroadcastFigures(
            rate=rate,
            watchers=self.watchers,
            seconds=wall,
            events=events,
            expected=expected,
            delivered=delivered,
            catch_up_ms=caught_up * 1000 if all_in else None,
            deliveries_per_s=delivered / wall,
            p50_ms=_percentile(latencies, 0.5),
            p99_ms=_percentile(latencies, 0.99),
            max_ms=latencies[-1] if latencies else float("nan"),
            samples=len(latencies),
            generator_cpu=generator_cpu,
            generator_cores_busy=cores_busy,
            server_cpu=server_cpu,
            server_kernel_cpu=kernel_cpu,
            longest_gap_ms=longest_gap * 1000,
            longest_ping_ms=max(longest_ping, probe.outstanding_s() * 1000),
            closed=closed,
            gc_full=collector[0] if collector else None,
            gc_longest_ms=collector[1] if collector else None,
        )
        self.watchers -= closed  # a closed socket watches no more
        return figures

    async def ladder(
        self, plan: BroadcastPlan, log: Callable[[str], None]
    ) -> list[BroadcastFigures]:
        """Event rates growing by half each step until one is not kept up."""
        steps: list[BroadcastFigures] = []
        rate = plan.start_rate
        while rate <= MAX_EVENTS_PER_S and self.watchers:
            figures = await self.run_at(rate, plan.step_s)
            steps.append(figures)
            log(f"  step {describe(figures)}")
            if not figures.kept_up():
                break
            await server_quiet(self.server_pid)
            rate = round(rate * 1.5, 2)
        return steps


def describe(figures: BroadcastFigures) -> str:
    caught_up = "never" if figures.catch_up_ms is None else f"{figures.catch_up_ms:.0f} ms"
    return (
        f"{figures.rate:>7,.2f} events/s x {figures.watchers} watchers: delivered "
        f"{figures.delivered}/{figures.expected} ({figures.deliveries_per_s:,.0f}/s), "
        f"caught up {caught_up}, "
        f"p50 {figures.p50_ms:.1f} ms p99 {figures.p99_ms:.1f} ms, server CPU "
        f"{figures.server_cpu:.0f}%, generator CPU {figures.generator_cpu:.0f}% (its core "
        f"{figures.generator_cores_busy:.0f}% busy), "
        f"closed {figures.closed}"
    )


async def broadcast(
    nc: NATS,
    prefix: str,
    plan: BroadcastPlan,
    sockets: Collection[WsClient],
    stats: Stats,
    probe: PingProbe,
    gc_log: GcLog,
    *,
    server_pid: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The scenario: the sockets join, then the ladder (plan.rate 0) and the final run."""
    scenario = Broadcast(
        BroadcastPublisher(nc, prefix, plan.post_id), stats, probe, gc_log, server_pid
    )
    joined = await scenario.watch(sockets, plan.post_id)
    log(
        f"  broadcast: {joined['live']} of {joined['sockets']} sockets watching post "
        f"{plan.post_id} ({joined['join_seconds']:.1f} s to join)"
    )
    result: dict[str, Any] = {"post_id": plan.post_id, "joined": joined, "steps": []}
    if not scenario.watchers:
        return result
    rate = plan.rate
    if rate <= 0:
        log("  broadcast: finding the highest event rate kept up")
        steps = await scenario.ladder(plan, log)
        result["steps"] = [step.as_dict() for step in steps]
        kept = [step for step in steps if step.kept_up()]
        rate = kept[-1].rate if kept else plan.start_rate
    await server_quiet(server_pid)
    log(f"  broadcast: {rate:,.2f} events/s for {plan.duration_s:g} s")
    sampler = None
    if plan.profile_seconds > 0:
        sampler = Sampler(server_pid, plan.profile_seconds, plan.profile_out)
    final = await scenario.run_at(rate, plan.duration_s)
    log(f"  final {describe(final)}")
    result["final"] = final.as_dict()
    if sampler is not None:
        outcome = sampler.result()
        result["profile_error"] = outcome if isinstance(outcome, str) else None
    return result


def add_rate_arguments(parser: argparse.ArgumentParser) -> None:
    """The scenario's event rates, as every driver of it takes them."""
    parser.add_argument(
        "--broadcast-rate", type=float, default=10, help="broadcast: events/s; 0: highest kept up"
    )
    parser.add_argument(
        "--broadcast-start-rate", type=float, default=1, help="broadcast: first step (rate 0)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The load generator's options for this scenario (loadtests/ws_loadgen.py)."""
    parser.add_argument("--post-id", type=int, default=0, help="the post every socket watches")
    add_rate_arguments(parser)


def plan_from_args(args: argparse.Namespace) -> BroadcastPlan:
    return BroadcastPlan(
        post_id=args.post_id,
        rate=args.broadcast_rate,
        start_rate=args.broadcast_start_rate,
        step_s=args.step_seconds,
        duration_s=args.duration,
        profile_seconds=args.profile_seconds,
        profile_out=profile_path(args.profile_out),
    )


def profile_path(raw: Path | str) -> Path:
    """Where the broadcast run's py-spy stacks go, beside the per-user run's `raw`."""
    return Path(f"{raw}.broadcast")
