"""Liveness and readiness, including a dependency going down under a running server."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from conftest import make_settings
from support.live_server import LiveServer
from support.services import ServiceUrls

from fowergram.app import create_app
from fowergram.embedded.nats import EmbeddedNats
from fowergram.embedded.postgres import EmbeddedPostgres
from fowergram.embedded.process import free_port
from fowergram.embedded.redis import EmbeddedRedis


def test_liveness_is_ok(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.http_url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_reports_each_dependency(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.http_url}/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"postgres", "redis", "nats"}
    for check in body["checks"].values():
        assert check["status"] == "up"
        assert check["latency_ms"] >= 0


def test_readiness_names_the_dependency_that_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Our own PostgreSQL, Redis and NATS, so stopping them disturbs no other test.
    postgres = EmbeddedPostgres(tmp_path, free_port(), durable=False)
    redis = EmbeddedRedis(tmp_path, free_port())
    nats = EmbeddedNats(tmp_path, free_port())
    for service in (postgres, redis, nats):
        service.launch()
    try:
        urls = ServiceUrls(postgres.wait_ready(), redis.wait_ready(), nats.wait_ready())
        settings = make_settings(urls, urls.database_server)
        with LiveServer(create_app(settings), settings) as server:
            ready = f"{server.http_url}/health/ready"
            assert httpx.get(ready, timeout=10).status_code == 200

            redis.stop()
            response = httpx.get(ready, timeout=10)
            assert response.status_code == 503
            checks = response.json()["checks"]
            assert response.json()["status"] == "unavailable"
            assert checks["redis"]["status"] == "down"
            assert checks["redis"]["error"]
            assert checks["postgres"]["status"] == checks["nats"]["status"] == "up"

            nats.stop()
            checks = httpx.get(ready, timeout=10).json()["checks"]
            assert checks["nats"]["status"] == "down"
            assert checks["postgres"]["status"] == "up"

            postgres.stop()
            checks = httpx.get(ready, timeout=10).json()["checks"]
            assert checks["postgres"]["status"] == "down"

            # Liveness does no I/O: the process is alive whatever its dependencies do.
            assert httpx.get(f"{server.http_url}/health").status_code == 200
        # ...and with every dependency gone, shutdown still completes cleanly.
        failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert failures == [], [r.getMessage() for r in failures]
    finally:
        for service in (postgres, redis, nats):
            service.stop()
