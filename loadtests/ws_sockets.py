"""Opening many benchmark sockets (upgrade, `connection_init`, subscribe), the ping probe
that times the server's event loop from outside, and the CPU/memory readings around them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from loadtests.ws_wire import Stats, WsClient

# `updatedAt` carries the publish time (latency); `id` makes each delivery distinct.
SUBSCRIPTION = "subscription { notifications { id updatedAt } }"
OPEN_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Opened:
    sockets: dict[int, WsClient] = field(default_factory=dict)  # by user id
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # until the last subscribe was sent


async def open_socket(
    target: Target,
    stats: Stats,
    token: str,
    *,
    subscribe: bool = True,
    client_type: type[WsClient] = WsClient,
    **kwargs: Any,
) -> WsClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: client_type(stats, target.authority, **kwargs), target.host, target.port
    )
    assert client.opened is not None
    assert client.acked is not None
    await client.opened
    client.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    await client.acked
    if subscribe:
        client.send({"id": "n", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
    client.settled()
    return client


async def open_many(
    target: Target,
    stats: Stats,
    users: list[tuple[int, str]],
    *,
    concurrency: int,
    client_type: type[WsClient] = WsClient,
) -> Opened:
    """Every user's socket, `concurrency` handshakes in flight at a time."""
    opened = Opened()
    gate = asyncio.Semaphore(concurrency)

    async def one(user_id: int, token: str) -> None:
        async with gate:
            try:
                client = await asyncio.wait_for(
                    open_socket(target, stats, token, client_type=client_type), OPEN_TIMEOUT_S
                )
            except (OSError, TimeoutError) as error:
                opened.failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                return
        opened.sockets[user_id] = client

    started = time.monotonic()
    await asyncio.gather(*(one(user_id, token) for user_id, token in users))
    opened.seconds = time.monotonic() - started
    return opened


class PingProbe:
    """One socket sending `{"type":"ping"}` every `interval_s`: the server answers it in
    the socket's read loop, so the round trip is the time the server's event loop took
    to get to it. The longest round trip is the longest stall seen from outside."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self._interval_s = interval_s
        self._sent: list[float] = []
        self.rtts: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self.client: WsClient | None = None

    async def start(self, target: Target, stats: Stats, token: str) -> None:
        self.client = await open_socket(
            target, stats, token, subscribe=False, on_message=self._on_message
        )
        self._task = asyncio.create_task(self._run())

    def restart(self) -> None:
        self.rtts = []

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") == "pong" and self._sent:
            self.rtts.append(time.monotonic() - self._sent.pop(0))

    async def _run(self) -> None:
        assert self.client is not None
        while True:
            if len(self._sent) < 1000:  # a dead server must not grow this forever
                self._sent.append(time.monotonic())
                self.client.send({"type": "ping"})
            await asyncio.sleep(self._interval_s)

    def outstanding_s(self) -> float:
        """How long the oldest unanswered ping has waited (a stall still going on)."""
        return time.monotonic() - self._sent[0] if self._sent else 0.0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            self.client.close()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class CpuWindow:
    """CPU used by this process (the generator) and by the server since the window opened,
    as % of one core."""

    def __init__(self, server_pid: int) -> None:
        self._server = psutil.Process(server_pid)
        self._wall = time.monotonic()
        self._own = self._own_cpu()
        self._server_cpu0 = self._server_cpu()

    @staticmethod
    def _own_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def _server_cpu(self) -> float:
        times = self._server.cpu_times()
        return float(times.user + times.system)

    def percentages(self) -> tuple[float, float]:
        wall = max(time.monotonic() - self._wall, 1e-9)
        own, server = self.seconds()
        return own / wall * 100, server / wall * 100

    def seconds(self) -> tuple[float, float]:
        """CPU seconds used since the window opened: the generator's, the server's."""
        return self._own_cpu() - self._own, self._server_cpu() - self._server_cpu0


async def server_quiet(server_pid: int, *, below: float = 15.0, timeout_s: float = 60.0) -> float:
    """Wait until the server uses under `below`% of a core over 0.25 s; the seconds it
    took until the quiet window began (the end of the work it was doing)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        window_start = time.monotonic()
        window = CpuWindow(server_pid)
        await asyncio.sleep(0.25)
        if window.percentages()[1] < below:
            return window_start - started
    return timeout_s


async def until(done: Callable[[], bool], timeout_s: float) -> None:
    """Wait until `done()` holds (counters bumped by protocol callbacks: no event to wait
    on without costing every frame a call), or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if done() or time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.02)


class GcLog:
    """The server's collector pauses, as loadtests/gc_probe writes them (BENCH_GC_LOG)."""

    def __init__(self, path: str | None) -> None:
        self._path = Path(path) if path else None

    def window(self, since: float, until: float) -> tuple[int, float] | None:
        """(full collections, longest pause in ms) between two wall-clock times; None when
        the server is not probed."""
        if self._path is None or not self._path.exists():
            return None
        notable = json.loads(self._path.read_text())["notable"]
        inside = [entry for entry in notable if since <= entry[0] <= until]
        full = sum(1 for entry in inside if entry[1] == 2)
        return full, max((entry[2] * 1000 for entry in inside), default=0.0)

    async def objects(self, pid: int) -> ObjectCount | None:
        """What the server's collector tracks now (SIGUSR2 to the probe): objects in its
        generations, frozen ones, and (BENCH_GC_TYPES=1) how many of each type."""
        if self._path is None:
            return None
        seen = len(self._read("object_counts"))
        os.kill(pid, signal.SIGUSR2)
        await until(lambda: len(self._read("object_counts")) > seen, 30)
        counts = self._read("object_counts")
        if len(counts) <= seen:
            return None
        _, tracked, frozen, types = counts[-1]
        return ObjectCount(int(tracked), int(frozen), dict(types))

    def totals(self) -> dict[str, Any] | None:
        """The probe's totals so far: per generation, count, time in all, longest."""
        if self._path is None or not self._path.exists():
            return None
        state: dict[str, Any] = json.loads(self._path.read_text())
        return {key: state[key] for key in ("generations", "thresholds", "frozen")}

    async def audit(self, pid: int) -> dict[str, Any] | None:
        """Unfreeze the server and collect everything (SIGUSR1 to the probe): the cyclic
        garbage that freezing had kept, by type. It changes the server: last thing only."""
        if self._path is None:
            return None
        seen = len(self._read("audits"))
        os.kill(pid, signal.SIGUSR1)
        await until(lambda: len(self._read("audits")) > seen, 60)
        audits = self._read("audits")
        return audits[-1] if len(audits) > seen else None

    def _read(self, key: str) -> list[Any]:
        if self._path is None or not self._path.exists():
            return []
        entries: list[Any] = json.loads(self._path.read_text()).get(key, [])
        return entries


@dataclass(frozen=True, slots=True)
class ObjectCount:
    tracked: int  # in the collector's generations (what a full collection walks)
    frozen: int  # gc.freeze()'s permanent generation (never walked, never collected)
    types: dict[str, int]  # the most common types of the tracked ones (BENCH_GC_TYPES=1)

    def as_dict(self) -> dict[str, Any]:
        return {"tracked": self.tracked, "frozen": self.frozen, "types": self.types}
