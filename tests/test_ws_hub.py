"""The connection hub through a real server and real clients: handshake policy, limits,
keep-alive, revocation and drain."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import cast

import httpx
import orjson
import pytest
from conftest import make_settings
from redis.asyncio import Redis
from support.auth_helpers import async_http_client, bearer
from support.live_server import LiveServer, served_on_this_loop
from support.raw_ws import UPGRADE_HEAD, masked_text_frame, text_payload
from support.services import ServiceUrls
from support.ws_client import (
    LEGACY_WS,
    TRANSPORT_WS,
    bearer_init,
    closed_with,
    init,
    receive,
    receive_skipping_pings,
    send,
    signed_up,
    subscribe,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from fowergram.adapters.redis.revocations import RedisRevocationList
from fowergram.app import create_app
from fowergram.realtime.connection import CLOSE_TIMEOUT_S
from fowergram.realtime.endpoint import DRAIN_TASK_NAME

ALLOWED_ORIGIN = "https://app.example"
REFUSED = "fowergram_websocket_refused_total"
RawSocket = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture(scope="module")
def hub_server(service_urls: ServiceUrls, migrated_database: str) -> Iterator[LiveServer]:
    settings = make_settings(
        service_urls,
        migrated_database,
        ws_allowed_origins=f" {ALLOWED_ORIGIN} , https://other.example",
        ws_max_subscriptions=2,
        ws_max_message_bytes=4096,
        ws_ping_interval_s=0.2,
        ws_dead_peer_s=1.0,
        ws_connection_init_timeout_s=2,
    )
    with LiveServer(create_app(settings), settings) as server:
        yield server


def _metric(server: LiveServer, name: str) -> float:
    text = httpx.get(f"{server.http_url}/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_pages_of_other_sites_are_refused_before_the_upgrade(hub_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            hub_server.ws_url, subprotocols=[TRANSPORT_WS], origin=Origin("https://evil.example")
        ):
            pass
    assert refused.value.response.status_code == 403
    for origin in (Origin(ALLOWED_ORIGIN), Origin(f"http://127.0.0.1:{hub_server.port}"), None):
        async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS], origin=origin) as ws:
            await init(ws)


async def test_an_oversize_message_closes_with_1009(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        await subscribe(ws, "big", "{ serverInfo { version } }", padding="x" * 5000)
        assert await closed_with(ws) == 1009


async def test_operations_per_socket_are_capped(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        await subscribe(ws, "a", "subscription { ticks(every: 50) }")
        await subscribe(ws, "b", "subscription { ticks(every: 50) }")
        await subscribe(ws, "c", "subscription { ticks(every: 50) }")
        seen: dict[str, list[str]] = {"a": [], "b": [], "c": []}
        while len(seen["a"]) < 2 or len(seen["b"]) < 2 or not seen["c"]:
            frame = await receive_skipping_pings(ws)
            seen[frame["id"]].append(frame["type"])
        assert seen["c"] == ["error"]
        refused = None
        await send(ws, {"id": "a", "type": "complete"})
        # The freed slot can be used again.
        await subscribe(ws, "d", "subscription { ticks(every: 50, count: 1) }")
        while (frame := await receive_skipping_pings(ws))["id"] != "d":
            refused = frame
        assert frame["type"] == "next"
    assert refused is None or refused["id"] in ("a", "b")


async def test_a_reused_running_id_closes_with_4409(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        await subscribe(ws, "same", "subscription { ticks(every: 1000) }")
        await subscribe(ws, "same", "subscription { ticks(every: 1000) }")
        assert await closed_with(ws) == 4409


async def test_a_second_connection_init_closes_with_4429(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        await send(ws, {"type": "connection_init"})
        assert await closed_with(ws) == 4429


async def test_a_protocol_error_after_init_closes_with_4400(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": ["{ a }"]}})
        assert await closed_with(ws) == 4400


async def test_the_server_pings_and_answers_pings(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        await send(ws, {"type": "ping"})
        frames = [await receive(ws), await receive(ws)]
        assert {"type": "pong"} in frames or await receive(ws) == {"type": "pong"}
        # Idle: the server pings within its interval (0.2 s here).
        while (await receive(ws, timeout=2))["type"] != "ping":
            pass


async def test_a_peer_that_stops_answering_is_closed_and_counted(hub_server: LiveServer) -> None:
    before = _metric(hub_server, "fowergram_websocket_dead_peers_total")
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        started = time.monotonic()
        # Never answer the server's pings.
        assert await closed_with(ws, timeout=5) == 1001
        assert time.monotonic() - started < 4
    assert _metric(hub_server, "fowergram_websocket_dead_peers_total") == before + 1


async def test_a_peer_that_answers_pings_stays(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        deadline = time.monotonic() + 2.5  # well past the 1 s dead-peer bound
        while time.monotonic() < deadline:
            if (await receive(ws, timeout=2))["type"] == "ping":
                await send(ws, {"type": "pong"})
        await subscribe(ws, "q", "{ serverInfo { version } }")
        assert (await receive_skipping_pings(ws))["type"] == "next"


async def test_legacy_sockets_get_keep_alives(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[LEGACY_WS]) as ws:
        await init(ws)
        assert (await receive(ws, timeout=2)) == {"type": "ka"}


async def test_a_legacy_peer_is_kept_alive_by_its_websocket_pongs(hub_server: LiveServer) -> None:
    # graphql-ws has no answer to "ka": the server also sends WebSocket pings, which
    # every client answers (this one automatically), and a pong is proof of life.
    async with connect(hub_server.ws_url, subprotocols=[LEGACY_WS]) as ws:
        await init(ws)
        deadline = time.monotonic() + 2.5  # well past the 1 s dead-peer bound
        while time.monotonic() < deadline:
            assert (await receive(ws, timeout=2)) == {"type": "ka"}
        await send(
            ws, {"id": "q", "type": "start", "payload": {"query": "{ serverInfo { version } }"}}
        )
        while (frame := await receive(ws))["type"] == "ka":
            pass
        assert frame["type"] == "data"


async def test_other_paths_are_not_socket_endpoints(hub_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(hub_server.ws_url.replace("/graphql", "/elsewhere")):
            pass
    assert refused.value.response.status_code == 404


async def test_messages_sent_before_the_ack_are_answered_after_it(hub_server: LiveServer) -> None:
    session = await signed_up(hub_server.http_url)
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        # Not waiting for the ack (a client should; one that does not is served in order).
        await send(ws, {"type": "connection_init", "payload": bearer_init(session)})
        await subscribe(ws, "me", "{ me { id } }")
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "connection_ack"
        frames = [await receive_skipping_pings(ws) for _ in range(3)]
        # The query runs as its own task: the pong may come before its answer.
        assert {"type": "pong"} in frames
        answer = next(frame for frame in frames if frame["type"] == "next")
        assert answer["id"] == "me"
        assert answer["payload"]["data"]["me"]["id"]
        assert {"id": "me", "type": "complete"} in frames


async def test_a_fragmented_message_is_put_back_together(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        message = '{"id":"f","type":"subscribe","payload":{"query":"{ serverInfo { version } }"}}'
        await ws.send(iter([message[:10], message[10:40], message[40:]]))
        answer = await receive_skipping_pings(ws)
        assert answer["id"] == "f"
        assert answer["payload"]["data"]["serverInfo"]["version"]


async def test_a_fragmented_message_over_the_limit_closes_with_1009(hub_server: LiveServer) -> None:
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        # Each fragment is under the 4 KiB limit; the message is not.
        await ws.send(iter(['{"type":"ping","payload":{"p":"', "x" * 3000, "y" * 3000, '"}}']))
        assert await closed_with(ws) == 1009


@pytest.mark.parametrize(
    ("request_head", "status", "header"),
    [
        # No Sec-WebSocket-Key.
        (
            b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
            b"400",
            None,
        ),
        # A version this server does not speak: it names its own (RFC 6455 4.4).
        (
            b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 8\r\n",
            b"426",
            b"sec-websocket-version: 13",
        ),
        (
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n",
            b"405",
            b"allow: get",
        ),
    ],
    ids=["no-key", "version-8", "post"],
)
async def test_a_malformed_upgrade_request_is_refused_and_nothing_opens(
    hub_server: LiveServer, request_head: bytes, status: bytes, header: bytes | None
) -> None:
    opened_before = _metric(hub_server, "fowergram_websocket_connections_total")
    reader, writer = await asyncio.open_connection("127.0.0.1", hub_server.port)
    writer.write(request_head + b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n")
    await writer.drain()
    # The whole answer, then the end of the connection.
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 " + status)
    head, _, body = answer.partition(b"\r\n\r\n")
    if header is not None:
        assert header in head.lower().split(b"\r\n")
    assert body.startswith(b"Failed to open a WebSocket connection")
    assert _metric(hub_server, "fowergram_websocket_connections_total") == opened_before


async def test_signing_out_closes_that_sessions_sockets_within_a_second(
    hub_server: LiveServer,
) -> None:
    session = await signed_up(hub_server.http_url)
    other = await signed_up(hub_server.http_url)
    async with (
        connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as mine,
        connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as theirs,
    ):
        await init(mine, bearer_init(session))
        await init(theirs, bearer_init(other))
        async with async_http_client(hub_server.http_url) as client:
            response = await client.post("/auth/signout", headers=bearer(session["accessToken"]))
        assert response.status_code == 200
        started = time.monotonic()
        assert await closed_with(mine, timeout=3) == 4403
        assert time.monotonic() - started < 1.0
        # Someone else's socket is untouched.
        await subscribe(theirs, "me", "{ me { id } }")
        assert (await receive_skipping_pings(theirs))["payload"]["data"]["me"]["id"]


async def test_connection_inits_arriving_together_are_each_answered_on_their_own(
    hub_server: LiveServer,
) -> None:
    # A reconnect storm's inits are answered in batches: each socket still gets its own
    # answer, whatever its neighbours in the batch offered.
    live = [await signed_up(hub_server.http_url) for _ in range(3)]
    revoked = [await signed_up(hub_server.http_url) for _ in range(2)]
    async with async_http_client(hub_server.http_url) as client:
        for session in revoked:
            response = await client.post("/auth/signout", headers=bearer(session["accessToken"]))
            assert response.status_code == 200
    forged = live[0]["accessToken"][:-6] + "AAAAAA"
    offers: list[tuple[dict[str, str], str]] = [
        *((bearer_init(s), "in") for s in live),
        (bearer_init(live[0]), "in"),  # a second socket of the same session
        *((bearer_init(s), "revoked") for s in revoked),
        ({"authorization": f"Bearer {forged}"}, "forged"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "forged"),
        ({}, "anonymous"),
    ]
    sockets = [await connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) for _ in offers]
    try:
        await asyncio.gather(
            *(
                send(ws, {"type": "connection_init", "payload": payload})
                for ws, (payload, _) in zip(sockets, offers, strict=True)
            )
        )
        answers = []
        for ws, (_, expected) in zip(sockets, offers, strict=True):
            if expected in ("revoked", "forged"):
                answers.append((expected, await closed_with(ws), ws.close_reason))
            else:
                answers.append((expected, 0, (await receive(ws)).get("payload")))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))

    users = [s["user"]["id"] for s in live]
    assert answers == [
        *(("in", 0, {"userId": user}) for user in users),
        ("in", 0, {"userId": users[0]}),
        ("revoked", 4403, "Forbidden: session revoked"),
        ("revoked", 4403, "Forbidden: session revoked"),
        ("forged", 4403, "Forbidden: access token invalid"),
        ("forged", 4403, "Forbidden: authorization must be 'Bearer <token>'"),
        ("anonymous", 0, None),
    ]


async def test_an_admitted_socket_is_closed_by_a_revocation_after_it_subscribed(
    hub_server: LiveServer,
) -> None:
    # After admission (a batch's one revocation look-up) a revocation arrives on the
    # user's channel, with or without an operation running.
    session = await signed_up(hub_server.http_url)
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, bearer_init(session))
        await subscribe(ws, "n", "subscription { notifications { id } }")
        await subscribe(ws, "me", "{ me { id } }")
        assert (await receive_skipping_pings(ws))["id"] == "me"
        async with async_http_client(hub_server.http_url) as client:
            await client.post("/auth/signout", headers=bearer(session["accessToken"]))
        assert await closed_with(ws, timeout=3) == 4403
        assert ws.close_reason == "session revoked"


async def _revoke_unannounced(server: LiveServer, session_id: str) -> None:
    """The session revoked in the store with no announcement (one lost on the way)."""
    settings = server.settings
    assert settings.redis_url is not None
    redis = Redis.from_url(str(settings.redis_url))
    try:
        revocations = RedisRevocationList(redis, key_prefix=settings.redis_key_prefix, ttl_s=60)
        await revocations.add([session_id])
    finally:
        await redis.aclose()


async def test_operations_after_admission_s_fresh_look_up_check_the_session_again(
    hub_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An operation begun just after admission relies on its look-up (the channel was live
    # before it); a later one asks again, so a revocation whose announcement was lost
    # still refuses it.
    monkeypatch.setattr("fowergram.realtime.endpoint.SESSION_CHECK_FRESH_S", 0.5)
    session = await signed_up(hub_server.http_url)
    async with connect(hub_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, bearer_init(session))
        await _revoke_unannounced(hub_server, session["sessionId"])
        await subscribe(ws, "fresh", "subscription { notifications { id } }")
        await asyncio.sleep(0.6)
        await subscribe(ws, "later", "subscription { notifications { id } }")
        refused = await receive_skipping_pings(ws)
    assert refused["id"] == "later"  # nothing for "fresh" came first
    assert refused["type"] == "error"
    assert refused["payload"][0]["message"] == "session revoked"


async def test_draining_closes_sockets_with_1012_and_refuses_new_ones(
    service_urls: ServiceUrls, migrated_database: str
) -> None:
    settings = make_settings(service_urls, migrated_database, ws_drain_batch=2)
    server = LiveServer(create_app(settings), settings).start()
    try:
        sockets = [
            await connect(server.ws_url, subprotocols=[TRANSPORT_WS]).__aenter__() for _ in range(5)
        ]
        for ws in sockets:
            await init(ws)
        closed_at: list[float] = []

        async def close_time(ws: ClientConnection) -> int:
            code = await closed_with(ws)
            closed_at.append(time.monotonic())
            return code

        stopping = asyncio.get_running_loop().run_in_executor(None, server.stop)
        codes = await asyncio.gather(*(close_time(ws) for ws in sockets))
        await stopping
    finally:
        server.stop()
    assert codes == [1012] * 5
    # Two at a time with a pause between batches (uvicorn alone closes all at once).
    assert max(closed_at) - min(closed_at) >= 0.09


@contextlib.asynccontextmanager
async def _silent_client(port: int) -> AsyncIterator[RawSocket]:
    """A socket that is acknowledged, then reads nothing more (no WebSocket client library
    can stop reading): the server's close frame stays unread in its buffers, unanswered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(UPGRADE_HEAD)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write(masked_text_frame(b'{"type":"connection_init"}'))
        ack = await asyncio.wait_for(reader.read(128), 5)
        assert orjson.loads(text_payload(ack))["type"] == "connection_ack"
        # StreamReader resumes reading only when read from.
        cast(asyncio.Transport, writer.transport).pause_reading()
        yield reader, writer
    finally:
        writer.close()


async def _drain_started_by_uvicorn() -> asyncio.Task[None]:
    for _ in range(1000):
        for task in asyncio.all_tasks():
            if task.get_name() == DRAIN_TASK_NAME:
                return task
        await asyncio.sleep(0.005)
    raise AssertionError("uvicorn's shutdown started no drain")


async def test_a_socket_opened_while_the_hub_drains_is_refused_before_the_upgrade(
    service_urls: ServiceUrls, migrated_database: str
) -> None:
    # uvicorn stops listening before it tells its sockets to close, so a drain started by
    # a stop refuses newcomers at TCP level (next test); the hub's own refusal covers one
    # whose drain starts with the listener still open.
    settings = make_settings(service_urls, migrated_database, ws_drain_deadline_s=10)
    app = create_app(settings)
    async with served_on_this_loop(app, settings) as here, _silent_client(here.port) as (_, silent):
        refused_before = here.metric(REFUSED, {"reason": "draining"})
        draining = asyncio.create_task(here.hub.drain())  # the silent socket keeps it waiting
        try:
            while not here.hub.draining:
                await asyncio.sleep(0)
            with pytest.raises(InvalidStatus) as refused:
                async with connect(here.ws_url, subprotocols=[TRANSPORT_WS]):
                    pass
            assert not draining.done()  # refused during the drain, not after it
            assert refused.value.response.status_code == 403
            assert len(here.hub.connections) == 1  # the silent one only: nothing opened
            assert here.metric(REFUSED, {"reason": "draining"}) == refused_before + 1
            silent.close()
            # The last socket gone, the drain ends at once, long before its deadline.
            await asyncio.wait_for(draining, 2)
            assert not here.hub.connections
        finally:
            draining.cancel()


async def test_drain_ends_by_its_deadline_when_a_client_never_reads(
    service_urls: ServiceUrls, migrated_database: str
) -> None:
    deadline_s = 0.5  # shorter than CLOSE_TIMEOUT_S: the drain must give up on the socket
    settings = make_settings(service_urls, migrated_database, ws_drain_deadline_s=deadline_s)
    app = create_app(settings)
    async with served_on_this_loop(app, settings) as here, _silent_client(here.port) as silent:
        reader, writer = silent
        started = time.monotonic()
        here.server.should_exit = True  # a stop, as on SIGTERM
        drain = await _drain_started_by_uvicorn()
        with pytest.raises(ConnectionRefusedError):  # newcomers: nothing listens now
            await asyncio.open_connection("127.0.0.1", here.port)
        await asyncio.wait_for(drain, CLOSE_TIMEOUT_S)
        drained_in = time.monotonic() - started
        # It waited for the socket's answer up to its deadline, not for the socket's own
        # close timeout.
        assert deadline_s <= drained_in < CLOSE_TIMEOUT_S - 0.3
        assert len(here.hub.connections) == 1
        # The socket that never answered is dropped once its close times out.
        while here.hub.connections:
            assert time.monotonic() - started < CLOSE_TIMEOUT_S + 1
            await asyncio.sleep(0.02)
        cast(asyncio.Transport, writer.transport).resume_reading()
        unread = await asyncio.wait_for(reader.read(), 5)  # up to the end of the stream
    # The close frame it never took: 1012, as to every socket.
    assert unread.startswith(b"\x88"), unread[:4]
    assert int.from_bytes(unread[2:4], "big") == 1012
