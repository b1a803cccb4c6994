"""A fresh one-worker server for a benchmark, and CPU pinning and accounting around it.

Without DATABASE_URL, `fowergram dev` starts an embedded PostgreSQL (and Redis and NATS)
in a temporary data folder. With DATABASE_URL set, a fresh database is created on that
server for the run (and dropped afterwards); REDIS_URL and NATS_URL, when set, are used
with a key/subject prefix of the run's own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import psycopg

from fowergram.embedded.nats import EmbeddedNats
from fowergram.embedded.process import free_port

SERVER_CPU = 0  # the server worker's core; the load generator and the services get the rest


@dataclass(frozen=True)
class BenchServer:
    url: str
    pid: int  # the process running uvicorn (the one worker)
    database_url: str
    embedded: bool  # PostgreSQL, Redis and NATS are children of the server process
    log_path: Path

    def service_processes(self) -> list[psutil.Process]:
        """The embedded PostgreSQL (postmaster and backends), Redis and NATS."""
        if not self.embedded:
            return []
        with contextlib.suppress(psutil.Error):
            return psutil.Process(self.pid).children(recursive=True)
        return []


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    name = f"fowergram_bench_{secrets.token_hex(4)}"
    admin = _with_database(server_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def bench_server(
    *,
    ready_timeout_s: float = 120,
    source: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[BenchServer]:
    """`source`: a checkout whose code the server runs (`python -m` imports from its
    working directory first); this one's by default. `extra_env`: settings of its own."""
    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="fowergram-bench-"))
        port = free_port()
        run_id = secrets.token_hex(4)
        env = dict(os.environ)
        env |= {
            "DATA_DIR": data_dir,
            "LOG_LEVEL": "WARNING",
            "ENVIRONMENT": "development",
            # Sign-in happens once, before the load: keep the tokens valid for the whole run.
            "ACCESS_TOKEN_TTL_S": "7200",
            "REDIS_KEY_PREFIX": f"bench{run_id}:",
            "NATS_SUBJECT_PREFIX": f"bench{run_id}",
        }
        env |= extra_env or {}
        embedded = not os.environ.get("DATABASE_URL")
        if embedded:
            for name in ("DATABASE_URL", "REDIS_URL", "NATS_URL"):
                env.pop(name, None)
            pg_port = free_port()
            env["EMBEDDED_POSTGRES_PORT"] = str(pg_port)
            database_url = f"postgresql://postgres@127.0.0.1:{pg_port}/fowergram"
        else:
            database_url = stack.enter_context(fresh_database(os.environ["DATABASE_URL"]))
            env["DATABASE_URL"] = database_url
        # The server's log goes to a file: wrk closing its connections at the end of a run
        # makes uvicorn log the requests it was still reading.
        log_path = Path(data_dir) / "server.log"
        log_file = stack.enter_context(log_path.open("wb"))
        process = subprocess.Popen(
            [sys.executable, "-m", "fowergram.cli", "dev", "--port", str(port)],
            env=env,
            cwd=source,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(f"{url}/health/ready", process, log_path, timeout_s=ready_timeout_s)
            yield BenchServer(url, process.pid, database_url, embedded, log_path)
        finally:
            stop(process)


def wait_ready(
    ready_url: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
    *,
    timeout_s: float = 120,
    name: str = "the server",
) -> None:
    """Until `ready_url` answers 200; the end of the log if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{name} exited with status {process.returncode}:\n{tail}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(ready_url).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{name} did not become ready")


def stop(process: subprocess.Popen[bytes], *, sig: int = signal.SIGINT, wait_s: float = 60) -> None:
    """`sig`, then up to `wait_s` for the process to end; killed if it has not."""
    process.send_signal(sig)
    try:
        process.wait(wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def can_pin() -> bool:
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def other_cpus() -> set[int]:
    return os.sched_getaffinity(0) - {SERVER_CPU}


@contextlib.contextmanager
def nats_for_run(cpus: set[int] | None) -> Iterator[str]:
    """NATS_URL when set; else an embedded NATS for the run, on `cpus` when given (decided
    before the caller pins itself: then it no longer sees the other cores)."""
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as folder:
        server = EmbeddedNats(Path(folder), free_port())
        server.launch()
        try:
            if cpus and server.pid is not None:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(server.pid, cpus)
            yield server.wait_ready()
        finally:
            server.stop()


def pin(server: BenchServer) -> str:
    """The server's threads on one core; the embedded services on the other(s)."""
    if not can_pin():
        return "not pinned (fewer than 2 CPUs available)"
    rest = other_cpus()
    for task in os.listdir(f"/proc/{server.pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task), {SERVER_CPU})
    for child in server.service_processes():
        with contextlib.suppress(OSError, psutil.Error):
            child.cpu_affinity(sorted(rest))
    where = "with the load generator" if server.embedded else "external services unpinned"
    cpus = ",".join(map(str, sorted(rest)))
    return f"server on CPU {SERVER_CPU}; load generator on CPU {cpus}; embedded services {where}"


def generator_command(argv: list[str]) -> list[str]:
    """`argv` pinned to the cores the server does not use, when that is possible."""
    if can_pin() and (taskset := shutil.which("taskset")):
        return [taskset, "-c", ",".join(map(str, sorted(other_cpus()))), *argv]
    return argv


class CpuMeter:
    """CPU seconds used by the server and by the embedded services over a window."""

    def __init__(self, server: BenchServer) -> None:
        self._server = server
        self._start_wall = time.monotonic()
        self._start_server = self._server_cpu()
        self._start_services = self._services_cpu()

    def _server_cpu(self) -> float:
        times = psutil.Process(self._server.pid).cpu_times()
        return times.user + times.system

    def _services_cpu(self) -> dict[int, tuple[str, float]]:
        used: dict[int, tuple[str, float]] = {}
        for process in self._server.service_processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                used[process.pid] = (_service_name(process.name()), times.user + times.system)
        return used

    def percentages(self) -> tuple[float, dict[str, float] | None]:
        """(server %, % per embedded service or None when they are not ours), of one core."""
        wall = time.monotonic() - self._start_wall
        server = (self._server_cpu() - self._start_server) / wall * 100
        if not self._server.embedded:
            return server, None
        services: dict[str, float] = {}
        for pid, (name, cpu) in self._services_cpu().items():
            before = self._start_services.get(pid, (name, 0.0))[1]
            services[name] = services.get(name, 0.0) + (cpu - before) / wall * 100
        return server, services


def _service_name(process_name: str) -> str:
    """postgres, redis or nats: the backends' process titles vary, their prefixes do not."""
    for name in ("postgres", "redis", "nats"):
        if process_name.startswith(name):
            return name
    return process_name
