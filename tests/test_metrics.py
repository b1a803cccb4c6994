"""Prometheus metrics by route template and status, in-flight requests, DB pool."""

from __future__ import annotations

import re

import httpx
from support.live_server import LiveServer


def _sample(text: str, name: str, default: float | None = None, /, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    if default is not None:
        return default
    raise AssertionError(f"no sample {name} {labels}")


def test_requests_are_counted_by_route_and_status(live_server: LiveServer) -> None:
    base = live_server.http_url
    before = httpx.get(f"{base}/metrics").text
    counted = {"route": "/health", "method": "GET", "status": "200"}
    start = (
        _sample(before, "fowergram_http_requests_total", **counted)
        if 'route="/health"' in before
        else 0.0
    )

    for _ in range(3):
        httpx.get(f"{base}/health")
    httpx.get(f"{base}/no/such/page/12345")
    httpx.post(f"{base}/graphql", json={"query": "{ serverInfo { name } }"})

    text = httpx.get(f"{base}/metrics").text
    assert _sample(text, "fowergram_http_requests_total", **counted) == start + 3
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert _sample(text, "fowergram_http_requests_total", **unmatched) >= 1
    assert "/no/such/page" not in text  # raw paths never become labels
    graphql = {"route": "/graphql", "method": "POST", "status": "200"}
    assert _sample(text, "fowergram_http_request_duration_seconds_count", **graphql) >= 1
    # The scrape itself is in flight while the page is rendered.
    assert _sample(text, "fowergram_http_requests_in_flight") >= 1


def test_database_pool_is_reported(live_server: LiveServer) -> None:
    text = httpx.get(f"{live_server.http_url}/metrics").text
    size = _sample(text, "fowergram_db_pool_connections")
    assert 1 <= size <= 5  # the test settings' pool bounds
    assert 0 <= _sample(text, "fowergram_db_pool_connections_in_use") <= size


async def test_websocket_connections_are_counted(live_server: LiveServer) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    def total(text: str) -> float:
        return _sample(text, "fowergram_websocket_connections_total", 0.0)

    async with httpx.AsyncClient(base_url=live_server.http_url) as client:
        before = total((await client.get("/metrics")).text)
        async with connect(
            live_server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as ws:
            await ws.send('{"type": "connection_init"}')
            await ws.recv()
            during = (await client.get("/metrics")).text
            assert _sample(during, "fowergram_websocket_connections_open") >= 1
        assert total(during) == before + 1
