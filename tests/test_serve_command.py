"""`fowergram serve --workers N` against configured services; metrics span the workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from support.services import ServiceUrls

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

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in log.read_text()
