"""`fowergram serve --workers N` against configured services; metrics span the workers,
and each worker drains its sockets (1012, in batches) when the server stops."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from support.services import ServiceUrls
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from fowergram.embedded.process import free_port


def test_serve_with_two_workers(
    service_urls: ServiceUrls, migrated_database: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": migrated_database,
        "REDIS_URL": service_urls.redis,
        "NATS_URL": service_urls.nats,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "MIGRATE_ON_START": "true",  # already migrated: must be a no-op
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fowergram.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        workers = psutil.Process(process.pid).children()
        assert len(workers) >= 2

        for _ in range(19):
            with httpx.Client() as client:  # new connections spread over the workers
                assert client.get(f"{base}/health/ready").status_code == 200
        metrics = httpx.get(f"{base}/metrics").text
        line = next(
            line
            for line in metrics.splitlines()
            if line.startswith("fowergram_http_requests_total")
            and 'route="/health/ready"' in line
            and 'status="200"' in line
        )
        assert float(line.rsplit(" ", 1)[1]) == 20  # both workers' requests, summed

        with contextlib.ExitStack() as open_sockets:
            sockets = [_socket(open_sockets, port) for _ in range(6)]  # over the workers too
            process.send_signal(signal.SIGINT)
            codes = [_close_code(ws) for ws in sockets]
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert "Traceback" not in text
    assert codes == [1012] * 6
    assert "draining sockets" in text


def _socket(stack: contextlib.ExitStack, port: int) -> ClientConnection:
    url = f"ws://127.0.0.1:{port}/graphql"
    ws = stack.enter_context(connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]))
    ws.send('{"type":"connection_init"}')
    assert '"connection_ack"' in str(ws.recv(timeout=5))
    return ws


def _close_code(ws: ClientConnection) -> int | None:
    try:
        while True:
            ws.recv(timeout=15)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
