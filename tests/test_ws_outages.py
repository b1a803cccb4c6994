"""Sockets when a service fails. Redis: open ones keep receiving; new ones are told to
retry (1011) instead of hanging or being treated as bad credentials; all is well once it
returns. NATS: a write committed meanwhile waits in the outbox and reaches the open socket
once NATS is back. A client that stops reading is closed, not buffered for ever."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import orjson
from conftest import make_settings
from support.live_server import LiveServer
from support.nats_server import start_nats
from support.outbox_events import unpublished_count
from support.post_writes import create_post, like_post
from support.services import ServiceUrls
from support.social_helpers import join
from support.ws_client import (
    TRANSPORT_WS,
    closed_with,
    init,
    receive_skipping_pings,
    send,
    subscribe,
)
from websockets.asyncio.client import ClientConnection, connect

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.app import create_app
from fowergram.embedded.nats import EmbeddedNats
from fowergram.embedded.process import free_port
from fowergram.embedded.redis import EmbeddedRedis

LIVE = "subscription { notifications { id kind } }"
LIKED = "subscription { notifications { kind post { id } } }"


def _notification(user_id: int, notification_id: int) -> bytes:
    now = datetime.now(UTC).isoformat()
    wire = {
        "id": notification_id,
        "recipientId": user_id,
        "kind": "like",
        "groupKey": f"like:post:1:{notification_id}",
        "actorIds": [1],
        "actorCount": 1,
        "postId": None,
        "commentId": None,
        "createdAt": now,
        "updatedAt": now,
        "readAt": None,
    }
    return orjson.dumps({"type": "notification", "notification": wire})


async def test_redis_going_away_and_coming_back(
    service_urls: ServiceUrls, migrated_database: str, tmp_path: Path
) -> None:
    port = free_port()
    redis = EmbeddedRedis(tmp_path, port)
    redis.launch()
    urls = ServiceUrls(service_urls.database_server, redis.wait_ready(), service_urls.nats)
    settings = make_settings(urls, migrated_database)
    nats = await connect_nats(service_urls.nats, name="test-outage")
    try:
        with LiveServer(create_app(settings), settings) as server:
            member = join(server.http_url)
            auth = {"authorization": f"Bearer {member.token}"}
            subject = f"{settings.nats_subject_prefix}.user.{member.id}"
            async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as open_socket:
                await init(open_socket, auth)
                await subscribe(open_socket, "n", LIVE)
                await asyncio.sleep(0.2)

                redis.stop()
                await nats.publish(subject, _notification(member.id, 41))
                frame = await receive_skipping_pings(open_socket)
                assert frame["payload"]["data"]["notifications"] == {"id": "41", "kind": "LIKE"}
                async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as refused:
                    await send(refused, {"type": "connection_init", "payload": auth})
                    assert await closed_with(refused) == 1011

                redis = EmbeddedRedis(tmp_path, port)
                redis.launch()
                redis.wait_ready()
                async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as again:
                    await init(again, auth)
                await nats.publish(subject, _notification(member.id, 42))
                frame = await receive_skipping_pings(open_socket)
                assert frame["payload"]["data"]["notifications"]["id"] == "42"
    finally:
        await close_nats(nats)
        redis.stop()


async def test_a_like_during_a_nats_outage_reaches_the_open_socket_when_it_returns(
    service_urls: ServiceUrls, private_database: str, nats_server: EmbeddedNats
) -> None:
    # The whole pipeline (relay, consumers, channels) on a NATS of this test's own.
    urls = ServiceUrls(service_urls.database_server, service_urls.redis, nats_server.url)
    settings = make_settings(
        urls,
        private_database,
        outbox_relay_enabled=True,
        consumers_enabled=True,
        outbox_relay_poll_interval_s=0.2,
    )
    with LiveServer(create_app(settings), settings) as server:
        owner, fan = join(server.http_url), join(server.http_url)
        before, during = create_post(owner), create_post(owner)
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
            await init(ws, {"authorization": f"Bearer {owner.token}"})
            await subscribe(ws, "n", LIKED)
            await asyncio.sleep(0.2)
            like_post(fan, before)
            assert await _liked_post(ws) == before

            await asyncio.to_thread(nats_server.stop)
            like_post(fan, during)  # commits with NATS away
            assert await _unpublished(private_database) == 1  # its event waits in the outbox
            await start_nats(nats_server)
            # Relay, consumer and the owner's channel all come back on their own.
            assert await _liked_post(ws, timeout=30) == during
        assert await _unpublished(private_database) == 0


async def _unpublished(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return await unpublished_count(connection)
    finally:
        await connection.close()


async def _liked_post(ws: ClientConnection, timeout: float = 15) -> int:
    frame = await receive_skipping_pings(ws, timeout=timeout)
    assert frame["type"] == "next", frame
    notification = frame["payload"]["data"]["notifications"]
    assert notification["kind"] == "LIKE", notification
    return int(notification["post"]["id"])


async def test_a_client_that_stops_reading_is_closed_and_counted(
    service_urls: ServiceUrls, migrated_database: str
) -> None:
    settings = make_settings(
        service_urls, migrated_database, ws_outbound_max_frames=8, ws_outbound_max_bytes=65536
    )
    nats = await connect_nats(service_urls.nats, name="test-slow-reader")
    try:
        with LiveServer(create_app(settings), settings) as server:
            member = join(server.http_url)
            subject = f"{settings.nats_subject_prefix}.user.{member.id}"
            # A tiny receive window, and then no reading at all.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            async with connect(
                server.ws_url, subprotocols=[TRANSPORT_WS], sock=sock, max_queue=1
            ) as ws:
                await init(ws, {"authorization": f"Bearer {member.token}"})
                await subscribe(ws, "n", LIVE)
                await asyncio.sleep(0.2)
                before = _slow_consumers(server)
                # The kernel's send buffer takes the first few MB (up to 4 MiB on
                # loopback), then the transport's, then the bound is passed.
                for n in range(1, 200_001):
                    await nats.publish(subject, _notification(member.id, n))
                    if n % 500 == 0:
                        await nats.flush()
                        if _slow_consumers(server) > before:
                            break
                assert _slow_consumers(server) == before + 1
                # Reading again: what was already on its way, then the 4429 close.
                assert await closed_with(ws, timeout=10) == 4429
    finally:
        await close_nats(nats)


def _slow_consumers(server: LiveServer) -> float:
    text = httpx.get(f"{server.http_url}/metrics").text
    for line in text.splitlines():
        if line.startswith("fowergram_websocket_slow_consumers_total "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
