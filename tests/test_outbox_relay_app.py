"""The relay as deployed: inside a server (its statements not counted as requests'
round trips) and alone as `fowergram worker relay`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import nats
import psycopg
from conftest import make_settings
from support.live_server import LiveServer
from support.services import ServiceUrls
from support.social_helpers import join

from fowergram.adapters.nats.event_stream import decode_event, stream_name
from fowergram.app import create_app
from fowergram.domain.events import RecordedEvent

CREATE_POST = "mutation($c: String!) { createPost(input: {caption: $c}) { id } }"


def _insert_events(database_url: str, count: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for n in range(count):
            conn.execute(
                "INSERT INTO outbox (kind, aggregate_id, payload) VALUES ('post.liked', %s, %s)",
                (n, f'{{"n": {n}}}'),
            )


def _waiting(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
    assert row is not None
    return int(row[0])


def _wait_until_published(database_url: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _waiting(database_url):
        assert time.monotonic() < deadline, "outbox rows still unpublished"
        time.sleep(0.05)


def _metric(base_url: str, name: str, labels: str = "") -> float:
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith(f"{name}{labels} ") or line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _stream(nats_url: str, prefix: str) -> list[RecordedEvent]:
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(f"{prefix}.evt.>", stream=stream_name(prefix))
        received: list[RecordedEvent] = []
        while True:
            try:
                messages = await sub.fetch(batch=100, timeout=0.5)
            except TimeoutError:
                return received
            received.extend(decode_event(message.data) for message in messages)
    finally:
        await nc.close()


async def test_a_server_relays_its_writes_without_counting_the_relays_queries(
    service_urls: ServiceUrls, private_database: str
) -> None:
    settings = make_settings(
        service_urls,
        private_database,
        outbox_relay_enabled=True,
        signing_keys_refresh_s=3600,  # no background reads during the measurement
    )
    with LiveServer(create_app(settings), settings) as server:
        member = await asyncio.to_thread(join, server.http_url)
        post_id = int(member.data(CREATE_POST, {"c": "relayed"})["createPost"]["id"])
        await asyncio.to_thread(_wait_until_published, private_database)

        queries = _metric(server.http_url, "fowergram_db_queries_total")
        _insert_events(private_database, 20)  # written beside the server: no request
        await asyncio.to_thread(_wait_until_published, private_database)
        assert _metric(server.http_url, "fowergram_db_queries_total") == queries
        published = _metric(
            server.http_url, "fowergram_outbox_events_published_total", 'kind="post.liked"'
        )
        assert published == 20
        member.client.close()
    events = await _stream(service_urls.nats, settings.nats_subject_prefix)
    created = [event for event in events if event.kind == "post.created"]
    assert [event.aggregate_id for event in created] == [post_id]
    assert [event.payload["n"] for event in events if event.kind == "post.liked"] == list(range(20))


async def test_the_relay_runs_alone_as_a_worker_and_stops_on_sigterm(
    service_urls: ServiceUrls, private_database: str, tmp_path: Path
) -> None:
    prefix = f"w{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": private_database,
        "NATS_URL": service_urls.nats,
        "NATS_SUBJECT_PREFIX": prefix,
    }
    env.pop("REDIS_URL", None)  # the relay needs only PostgreSQL and NATS
    log = tmp_path / "worker.log"
    _insert_events(private_database, 3)  # waiting before the worker starts
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fowergram.cli", "worker", "relay"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        await asyncio.to_thread(_wait_until_published, private_database, 30)
        _insert_events(private_database, 2)
        await asyncio.to_thread(_wait_until_published, private_database)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text()
    assert "outbox relay stopped" in output
    assert "Traceback" not in output
    events = await _stream(service_urls.nats, prefix)
    assert [event.payload["n"] for event in events] == [0, 1, 2, 0, 1]
