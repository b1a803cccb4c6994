"""`postActivity` through a real server: identical subscriptions share one execution and
one encoded payload; each socket is authorised as its viewer; blocks hide a commenter's
comments from the blocked side; the last watcher leaving ends the shared stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest
from conftest import make_settings
from nats.aio.client import Client as NATS
from starlette.applications import Starlette
from support.live_server import LiveServer
from support.services import ServiceUrls
from support.social_helpers import Member, join, set_private
from support.ws_client import TRANSPORT_WS, init, receive_skipping_pings, send, subscribe
from websockets.asyncio.client import ClientConnection, connect

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.app import create_app
from fowergram.realtime.hub import ConnectionHub

WATCH = """subscription Watch($id: ID!) {
  postActivity(postId: $id) {
    postId likeCount commentCount newComment { id body author { username } }
  }
}"""
CREATE_POST = 'mutation { createPost(input: {caption: "watched"}) { id } }'


@pytest.fixture(scope="module")
def app_and_server(
    service_urls: ServiceUrls, migrated_database: str
) -> Iterator[tuple[Starlette, LiveServer]]:
    settings = make_settings(service_urls, migrated_database)
    app = create_app(settings)
    with LiveServer(app, settings) as server:
        yield app, server


@pytest.fixture
async def nats(service_urls: ServiceUrls) -> AsyncIterator[NATS]:
    client = await connect_nats(service_urls.nats, name="test-multiplex")
    yield client
    await close_nats(client)


def _hub(app: Starlette) -> ConnectionHub:
    hub: ConnectionHub = app.state.hub
    return hub


def _activity(post_id: str, likes: int, comment: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps(
        {
            "type": "post.activity",
            "postId": int(post_id),
            "likeCount": likes,
            "commentCount": 1 if comment else 0,
            "actorId": comment["author"]["id"] if comment else None,
            "comment": comment,
            "deletedCommentId": None,
        }
    )


def _comment_by(member: Member) -> dict[str, Any]:
    return {
        "id": 99,
        "body": "hello",
        "parentId": None,
        "createdAt": datetime.now(UTC).isoformat(),
        "author": {"id": member.id, "username": member.username},
    }


async def _watch(server: LiveServer, who: Member | None, post_id: str, op: str) -> ClientConnection:
    ws = await connect(server.ws_url, subprotocols=[TRANSPORT_WS]).__aenter__()
    await init(ws, {"authorization": f"Bearer {who.token}"} if who else None)
    await subscribe(ws, op, WATCH, id=post_id)
    return ws


async def _settled(hub: ConnectionHub, subscribers: int) -> None:
    assert hub.multiplexer is not None
    for _ in range(100):
        total = sum(len(s.subscribers) for s in hub.multiplexer.streams.values())
        if total == subscribers:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {subscribers} subscribers, streams: {hub.multiplexer.streams}")


async def test_identical_watchers_share_one_execution_and_payload(
    app_and_server: tuple[Starlette, LiveServer], nats: NATS
) -> None:
    app, server = app_and_server
    hub = _hub(app)
    owner, fan = join(server.http_url), join(server.http_url)
    post_id = owner.data(CREATE_POST)["createPost"]["id"]
    sockets = [
        await _watch(server, owner, post_id, "a"),
        await _watch(server, fan, post_id, "b"),
        await _watch(server, None, post_id, "c"),  # public post: anonymous may watch
    ]
    await _settled(hub, 3)
    assert hub.multiplexer is not None
    assert len(hub.multiplexer.streams) == 1  # one execution for the three
    prefix = server.settings.nats_subject_prefix
    await nats.publish(f"{prefix}.post.{post_id}", _activity(post_id, 5))
    frames = [await receive_skipping_pings(ws) for ws in sockets]
    assert [f["id"] for f in frames] == ["a", "b", "c"]
    payloads = {orjson.dumps(f["payload"]) for f in frames}
    assert len(payloads) == 1
    activity = frames[0]["payload"]["data"]["postActivity"]
    assert activity == {
        "postId": post_id,
        "likeCount": 5,
        "commentCount": 0,
        "newComment": None,
    }
    # One leaves: the others go on; the last one leaving ends the stream and the interest.
    await send(sockets[0], {"id": "a", "type": "complete"})
    await _settled(hub, 2)
    await nats.publish(f"{prefix}.post.{post_id}", _activity(post_id, 6))
    for ws in sockets[1:]:
        assert (await receive_skipping_pings(ws))["payload"]["data"]["postActivity"][
            "likeCount"
        ] == 6
    for ws in sockets:
        await ws.close()
    await _settled(hub, 0)
    assert hub.multiplexer.streams == {}
    channels: Any = hub.channels
    for _ in range(100):  # the stream's clean-up runs after its cancellation
        if channels.interest(f"{prefix}.post.{post_id}") == 0:
            break
        await asyncio.sleep(0.02)
    assert channels.interest(f"{prefix}.post.{post_id}") == 0


async def test_each_watcher_is_authorised_as_itself(
    app_and_server: tuple[Starlette, LiveServer],
) -> None:
    _, server = app_and_server
    owner, stranger = join(server.http_url), join(server.http_url)
    set_private(server.settings.database_url or "", owner)
    post_id = owner.data(CREATE_POST)["createPost"]["id"]
    allowed = await _watch(server, owner, post_id, "mine")
    refused = await _watch(server, stranger, post_id, "theirs")
    frame = await receive_skipping_pings(refused)
    assert frame["type"] == "error"
    assert frame["payload"][0]["extensions"]["code"] == "NOT_FOUND"
    bad = await _watch(server, owner, "not-an-id", "bad")
    frame = await receive_skipping_pings(bad)
    assert frame["type"] == "error"
    for ws in (allowed, refused, bad):
        await ws.close()


async def test_a_blocked_commenters_comment_is_not_sent_across_the_block(
    app_and_server: tuple[Starlette, LiveServer], nats: NATS
) -> None:
    app, server = app_and_server
    owner, blocker, other, commenter = (join(server.http_url) for _ in range(4))
    with psycopg.connect(server.settings.database_url or "", autocommit=True) as conn:
        conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES (%s, %s)",
            (blocker.id, commenter.id),
        )
    post_id = owner.data(CREATE_POST)["createPost"]["id"]
    hidden = await _watch(server, blocker, post_id, "h")
    shown = await _watch(server, other, post_id, "s")
    await _settled(_hub(app), 2)
    subject = f"{server.settings.nats_subject_prefix}.post.{post_id}"
    await nats.publish(subject, _activity(post_id, 0, _comment_by(commenter)))
    await nats.publish(subject, _activity(post_id, 1))  # a like: counts go to everyone
    first = await receive_skipping_pings(shown)
    assert first["payload"]["data"]["postActivity"]["newComment"]["author"] == {
        "username": commenter.username
    }
    assert (await receive_skipping_pings(shown))["payload"]["data"]["postActivity"][
        "likeCount"
    ] == 1
    only = await receive_skipping_pings(hidden)
    assert only["payload"]["data"]["postActivity"]["likeCount"] == 1
    assert only["payload"]["data"]["postActivity"]["newComment"] is None
    for ws in (hidden, shown):
        await ws.close()


async def test_a_users_channel_is_held_while_any_of_their_sockets_is_here(
    app_and_server: tuple[Starlette, LiveServer],
) -> None:
    app, server = app_and_server
    channels: Any = _hub(app).channels
    member = join(server.http_url)
    channel = f"{server.settings.nats_subject_prefix}.user.{member.id}"
    auth = {"authorization": f"Bearer {member.token}"}
    phone = await connect(server.ws_url, subprotocols=[TRANSPORT_WS]).__aenter__()
    laptop = await connect(server.ws_url, subprotocols=[TRANSPORT_WS]).__aenter__()
    await init(phone, auth)
    await init(laptop, auth)
    assert channels.interest(channel) == 2
    assert channel in channels.upstream
    await phone.close()
    await _until(lambda: channels.interest(channel) == 1)
    assert channel in channels.upstream
    await laptop.close()
    await _until(lambda: channels.interest(channel) == 0)
    await _until(lambda: channel not in channels.upstream)


async def _until(check: Any) -> None:
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")
