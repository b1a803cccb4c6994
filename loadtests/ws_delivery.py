"""Per-user delivery runs: notifications published on random users' live subjects with
core NATS at a steady rate, counted and timed where the sockets receive them.

Each message is what the notifications consumer publishes (`{"type":"notification",
"notification": notification_to_wire(n)}`), with the publish time as `updatedAt`: the
subscription selects it, so a sampled delivery says how long it took.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS

from loadtests.ws_sockets import CpuWindow, GcLog, PingProbe, until
from loadtests.ws_wire import Stats

MESSAGE = (
    '{"type":"notification","notification":{"id":%d,"recipientId":%d,"kind":"like",'
    '"groupKey":"bench","actorIds":[1],"actorCount":1,"postId":null,"commentId":null,'
    '"createdAt":"%s","updatedAt":"%s","readAt":null}}'
)
TICK_S = 0.002
DRAIN_S = 2.0


@dataclass(frozen=True, slots=True)
class RunFigures:
    rate: float  # target publishes/s
    seconds: float
    published: int
    delivered: int  # by the end of the drain
    deliveries_per_s: float  # delivered / seconds published
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int
    generator_cpu: float  # % of one core, while publishing
    server_cpu: float
    longest_gap_ms: float  # between two deliveries, while publishing
    longest_ping_ms: float  # the probe's longest round trip
    closed: int  # sockets the server closed during the run
    gc_full: int | None  # the server's full collections during the run (None: not probed)
    gc_longest_ms: float | None  # its longest collector pause over 20 ms (or full one)

    def kept_up(self, max_p50_ms: float) -> bool:
        """Everything arrived, and the typical delivery was not queued: a server falling
        behind shows in the median (its backlog grows all the step long), while one pause
        (a collection, a keep-alive sweep) shows only in the tail, which is reported."""
        return self.delivered >= 0.995 * self.published and self.p50_ms <= max_p50_ms

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(fraction * 1000) - 1]


class Publisher:
    def __init__(self, nc: NATS, prefix: str, *, seed: int = 5) -> None:
        self._nc = nc
        self._prefix = prefix
        self._subjects: dict[int, str] = {}
        self._ids: list[int] = []  # the users `steady` picks from
        self._rng = random.Random(seed)
        self._seq = 0

    def target(self, user_ids: list[int]) -> None:
        """The users `steady` publishes to (those with a socket open)."""
        self._ids = list(user_ids)

    async def to(self, user_ids: list[int]) -> None:
        """One message to each of these users, now."""
        stamp = datetime.now(UTC).isoformat()
        for user_id in user_ids:
            await self._publish(user_id, stamp)
        await self._nc.flush()

    async def _publish(self, user_id: int, stamp: str) -> None:
        self._seq += 1
        message = MESSAGE % (self._seq, user_id, stamp, stamp)
        subject = self._subjects.get(user_id)
        if subject is None:
            subject = self._subjects[user_id] = f"{self._prefix}.user.{user_id}"
        await self._nc.publish(subject, message.encode())

    async def steady(self, rate: float, seconds: float) -> int:
        """Random users at `rate` messages/s for `seconds`; how many were published."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = 0
        choice, ids = self._rng.choice, self._ids
        while (elapsed := loop.time() - started) < seconds:
            due = int(rate * elapsed) - sent
            if due > 0:
                stamp = datetime.now(UTC).isoformat()
                for _ in range(due):
                    await self._publish(choice(ids), stamp)
                sent += due
            await asyncio.sleep(TICK_S)
        await self._nc.flush()
        return sent


async def run_at(
    publisher: Publisher,
    stats: Stats,
    probe: PingProbe,
    server_pid: int,
    gc_log: GcLog,
    *,
    rate: float,
    seconds: float,
) -> RunFigures:
    """Publish at `rate` for `seconds`, then wait (up to DRAIN_S) for the stragglers."""
    delivered0, closed0 = stats.deliveries, sum(stats.closes.values())
    stats.latencies.clear()
    stats.restart_gaps()
    probe.restart()
    cpu = CpuWindow(server_pid)
    wall_start = time.time()
    started = time.monotonic()
    published = await publisher.steady(rate, seconds)
    wall = time.monotonic() - started
    generator_cpu, server_cpu = cpu.percentages()
    longest_gap = stats.longest_gap
    await until(lambda: stats.deliveries - delivered0 >= published, DRAIN_S)
    delivered = stats.deliveries - delivered0
    latencies = sorted((received - sent) * 1000 for sent, received in stats.latencies)
    collector = gc_log.window(wall_start, time.time())
    pings = [rtt * 1000 for rtt in probe.rtts]
    longest_ping = max([*pings, probe.outstanding_s() * 1000], default=0.0)
    return RunFigures(
        rate=rate,
        seconds=wall,
        published=published,
        delivered=delivered,
        deliveries_per_s=delivered / wall,
        p50_ms=_percentile(latencies, 0.5),
        p99_ms=_percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else float("nan"),
        samples=len(latencies),
        generator_cpu=generator_cpu,
        server_cpu=server_cpu,
        longest_gap_ms=longest_gap * 1000,
        longest_ping_ms=longest_ping,
        closed=sum(stats.closes.values()) - closed0,
        gc_full=collector[0] if collector else None,
        gc_longest_ms=collector[1] if collector else None,
    )


async def ladder(
    publisher: Publisher,
    stats: Stats,
    probe: PingProbe,
    server_pid: int,
    gc_log: GcLog,
    *,
    start_rate: float,
    step_s: float,
    max_p50_ms: float,
    log: Any,
) -> list[RunFigures]:
    """Rates growing by half each step until one is not kept up (lost messages, or a
    median over `max_p50_ms`): the last kept-up rate is the highest sustained one."""
    steps: list[RunFigures] = []
    rate = start_rate
    while rate <= 200_000:
        figures = await run_at(
            publisher, stats, probe, server_pid, gc_log, rate=rate, seconds=step_s
        )
        steps.append(figures)
        log(
            f"  step {rate:>8,.0f}/s: delivered {figures.delivered}/{figures.published} "
            f"({figures.deliveries_per_s:,.0f}/s) p99 {figures.p99_ms:.1f} ms, "
            f"server CPU {figures.server_cpu:.0f}%, generator CPU {figures.generator_cpu:.0f}%, "
            f"longest ping {figures.longest_ping_ms:.0f} ms"
        )
        if not figures.kept_up(max_p50_ms):
            break
        await asyncio.sleep(0.5)
        rate = round(rate * 1.5, -1)
    return steps
