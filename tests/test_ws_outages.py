"""Sockets when Redis or NATS fails: open ones keep receiving; new ones are told to retry
(1011) instead of hanging or being treated as bad credentials; all is well once it
returns. A gap on a socket's live channel makes its next subscription check its session
again."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from conftest import make_settings
from redis.asyncio import Redis
from support.auth_helpers import jwt_payload
from support.live_server import LiveServer
from support.nats_server import start_nats
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
from websockets.asyncio.client import connect

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.adapters.redis.revocations import RedisRevocationList
from fowergram.app import create_app
from fowergram.embedded.nats import EmbeddedNats
from fowergram.embedded.process import free_port
from fowergram.embedded.redis import EmbeddedRedis

LIVE = "subscription { notifications { id kind } }"


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


async def _revoked_silently(settings_redis: str, key_prefix: str, session_id: str) -> None:
    """A revocation written to the list alone, its announcement on the channel left out:
    it shows which of the two a subscription's check was answered by."""
    redis = Redis.from_url(settings_redis)
    try:
        await RedisRevocationList(redis, key_prefix=key_prefix, ttl_s=60).add([session_id])
    finally:
        await redis.aclose()


async def test_after_a_gap_on_its_channel_a_socket_checks_its_session_again(
    service_urls: ServiceUrls, migrated_database: str, nats_server: EmbeddedNats
) -> None:
    urls = ServiceUrls(service_urls.database_server, service_urls.redis, nats_server.url)
    settings = make_settings(urls, migrated_database)
    with LiveServer(create_app(settings), settings) as server:
        member = join(server.http_url)
        subject = f"{settings.nats_subject_prefix}.user.{member.id}"
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
            await init(ws, {"authorization": f"Bearer {member.token}"})
            await _revoked_silently(
                settings.redis_url, settings.redis_key_prefix, jwt_payload(member.token)["sid"]
            )
            # Nothing missed on the channel since the session was found live after joining
            # it: a revocation would have come there, so the subscription starts unasked.
            await subscribe(ws, "before", LIVE)
            nats = await connect_nats(nats_server.url, name="test-gap")
            try:
                await nats.publish(subject, _notification(member.id, 51))
                frame = await receive_skipping_pings(ws)
                assert (frame["id"], frame["type"]) == ("before", "next")
            finally:
                await close_nats(nats)

            # NATS restarts: what was published meanwhile is lost to the socket.
            await asyncio.to_thread(nats_server.stop)
            await start_nats(nats_server)
            nats = await connect_nats(nats_server.url, name="test-gap-after")
            try:
                for notification_id in range(52, 152):  # until the server has resubscribed
                    await nats.publish(subject, _notification(member.id, notification_id))
                    try:
                        frame = await receive_skipping_pings(ws, timeout=0.2)
                        break
                    except TimeoutError:
                        continue
                assert (frame["id"], frame["type"]) == ("before", "next")
            finally:
                await close_nats(nats)
            # So the next subscription asks Redis again, and finds the session revoked.
            await subscribe(ws, "after", LIVE)
            while (refused := await receive_skipping_pings(ws))["id"] == "before":
                pass  # a notification published while the server resubscribed, late
        assert (refused["id"], refused["type"]) == ("after", "error"), refused
        assert refused["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
