"""`fowergram dev`: embedded stack up, migrated, serving; stops cleanly; data survives."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
import redis

from fowergram.embedded.process import free_port

pytestmark = pytest.mark.integration

EMBEDDED_NAMES = {"postgres", "redis-server", "nats-server"}


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_URL") and not k.startswith("EMBEDDED_") and k != "ENVIRONMENT"
    }
    env["DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def _start(data_dir: Path, port: int, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "fowergram.cli", "dev", "--port", str(port)],
            env=_env(data_dir, **extra),
            cwd=data_dir.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a shell job
        )


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready within 60s: {log.read_text()[-2000:]}")


def _descendants(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def _stop(
    process: subprocess.Popen[bytes],
    sig: int,
    children: list[psutil.Process],
    *,
    whole_group: bool = False,
) -> None:
    if whole_group:
        os.killpg(process.pid, sig)  # what Ctrl-C in a terminal does
    else:
        process.send_signal(sig)
    assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 5
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(children) == [], "child processes outlived `fowergram dev`"


def test_dev_serves_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "dev.log"
    port, pg_port, redis_port = free_port(), free_port(), free_port()
    database = f"postgresql://postgres@127.0.0.1:{pg_port}/fowergram"
    ports = {"EMBEDDED_POSTGRES_PORT": str(pg_port), "EMBEDDED_REDIS_PORT": str(redis_port)}

    first = _start(data_dir, port, log, **ports)
    try:
        _wait_ready(first, port, log)
        children = _descendants(first)
        assert {child.name() for child in children} >= EMBEDDED_NAMES
        with psycopg.connect(database) as conn:  # migrated: the schema is there
            conn.execute("INSERT INTO users (username, email) VALUES ('kept', 'kept@example.com')")
        with redis.Redis(port=redis_port) as cache:
            cache.set("fg:kept", b"yes")
        _stop(first, signal.SIGINT, children, whole_group=True)
    finally:
        if first.poll() is None:
            first.kill()

    second = _start(data_dir, port, log, **ports)
    try:
        _wait_ready(second, port, log)
        with psycopg.connect(database) as conn:
            row = conn.execute("SELECT email FROM users WHERE username = 'kept'").fetchone()
        assert row == ("kept@example.com",)
        with redis.Redis(port=redis_port) as cache:
            assert cache.get("fg:kept") == b"yes"
        _stop(second, signal.SIGTERM, _descendants(second))
    finally:
        if second.poll() is None:
            second.kill()
    assert "Traceback" not in log.read_text()


def test_a_component_that_fails_to_start_is_named(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "dev.log"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        process = _start(data_dir, free_port(), log, EMBEDDED_REDIS_PORT=str(busy_port))
        try:
            assert process.wait(timeout=60) == 3
        finally:
            if process.poll() is None:
                process.kill()
    output = log.read_text()
    assert "embedded redis failed to start" in output
    assert "Traceback" not in output
    leftovers = [
        proc
        for proc in psutil.process_iter(["name", "cmdline"])
        if str(data_dir) in " ".join(proc.info["cmdline"] or [])
    ]
    assert _alive(leftovers) == []


@pytest.mark.parametrize("command", [["serve"], ["dev", "--port", "0"]])
def test_bad_command_line_values_are_refused(command: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fowergram.cli", *command, "--workers", "0"]
        if command == ["serve"]
        else [sys.executable, "-m", "fowergram.cli", *command],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
