"""The whole path of a write to a socket: likePost → outbox → relay → JetStream → the
notifications consumer → the owner's channel → the hub → the `notifications` subscription,
and lossless resume after a disconnection, through a real server and real clients
(one of them gql's, a third-party GraphQL WebSocket client)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from conftest import make_settings
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from support.live_server import LiveServer
from support.services import ServiceUrls, create_database, drop_database
from support.social_helpers import Member, join
from support.ws_client import TRANSPORT_WS, closed_with, init, receive_skipping_pings, subscribe
from websockets.asyncio.client import connect

from fowergram.app import create_app

LIVE = "subscription Live($after: ID) { notifications(after: $after) { id kind actorCount } }"
CREATE_POST = 'mutation { createPost(input: {caption: "live"}) { id } }'
LIKE = "mutation Like($id: ID!) { likePost(id: $id) { likeCount } }"


@pytest.fixture(scope="module")
def pipeline_server(service_urls: ServiceUrls, database_template: str) -> Iterator[LiveServer]:
    """A server running the relay and the consumers, alone on its own database."""
    database = create_database(service_urls.database_server, template=database_template)
    settings = make_settings(
        service_urls,
        database,
        outbox_relay_enabled=True,
        consumers_enabled=True,
        outbox_relay_poll_interval_s=0.2,
    )
    try:
        with LiveServer(create_app(settings), settings) as server:
            yield server
    finally:
        drop_database(service_urls.database_server, database)


def _post_of(owner: Member) -> str:
    post_id: str = owner.data(CREATE_POST)["createPost"]["id"]
    return post_id


def _like(member: Member, post_id: str) -> None:
    member.data(LIKE, {"id": post_id})


async def _next_notification(ws: Any, op_id: str) -> dict[str, Any]:
    frame = await receive_skipping_pings(ws, timeout=15)
    assert frame["id"] == op_id, frame
    assert frame["type"] == "next", frame
    notification: dict[str, Any] = frame["payload"]["data"]["notifications"]
    return notification


async def test_a_like_reaches_the_owners_socket(pipeline_server: LiveServer) -> None:
    owner, fan = join(pipeline_server.http_url), join(pipeline_server.http_url)
    post_id = _post_of(owner)
    async with connect(pipeline_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {owner.token}"})
        await subscribe(ws, "n", LIVE)
        await asyncio.sleep(0.2)  # the subscription is registered
        _like(fan, post_id)
        notification = await _next_notification(ws, "n")
    assert notification["kind"] == "LIKE"
    assert notification["actorCount"] == 1


async def test_a_reconnecting_client_gets_what_it_missed_then_live_without_duplicates(
    pipeline_server: LiveServer,
) -> None:
    owner = join(pipeline_server.http_url)
    fans = [join(pipeline_server.http_url) for _ in range(3)]
    first_post, second_post, third_post = (_post_of(owner) for _ in range(3))
    auth = {"authorization": f"Bearer {owner.token}"}
    async with connect(pipeline_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, auth)
        await subscribe(ws, "n", LIVE)
        await asyncio.sleep(0.2)
        _like(fans[0], first_post)
        seen = await _next_notification(ws, "n")
    # Away: the group on the first post grows (a new, higher id) and a second post is liked.
    _like(fans[1], first_post)
    _like(fans[2], second_post)
    await asyncio.sleep(0)
    async with connect(pipeline_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, auth)
        await subscribe(ws, "n", LIVE, after=seen["id"])
        # The replay may run before or after the consumer has handled both likes: collect
        # until both are there, then one more live event.
        missed: dict[str, dict[str, Any]] = {}
        while len({n["id"] for n in missed.values()}) < 2 or len(missed) < 2:
            notification = await _next_notification(ws, "n")
            missed[notification["id"]] = notification
        _like(fans[0], third_post)
        live = await _next_notification(ws, "n")
    ids = [int(i) for i in missed]
    assert min(ids) > int(seen["id"])
    assert sorted(n["actorCount"] for n in missed.values()) == [1, 2]
    assert int(live["id"]) > max(ids)
    assert live["actorCount"] == 1


async def test_a_resume_point_that_is_not_an_id_is_refused(pipeline_server: LiveServer) -> None:
    owner = join(pipeline_server.http_url)
    async with connect(pipeline_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {owner.token}"})
        await subscribe(ws, "n", LIVE, after="../1")
        frame = await receive_skipping_pings(ws)
    errors = frame["payload"] if frame["type"] == "error" else frame["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_anonymous_socket_may_not_subscribe_to_notifications(
    pipeline_server: LiveServer,
) -> None:
    async with connect(pipeline_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws)
        await subscribe(ws, "n", LIVE)
        frame = await receive_skipping_pings(ws)
        errors = frame["payload"] if frame["type"] == "error" else frame["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        await ws.close()
        assert await closed_with(ws) == 1000


async def test_a_third_party_client_receives_notifications(pipeline_server: LiveServer) -> None:
    owner, fan = join(pipeline_server.http_url), join(pipeline_server.http_url)
    post_id = _post_of(owner)
    transport = WebsocketsTransport(
        url=pipeline_server.ws_url,
        init_payload={"authorization": f"Bearer {owner.token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    received: list[dict[str, Any]] = []
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:

        async def listen() -> None:
            async for result in session.subscribe(gql(LIVE)):
                received.append(result["notifications"])
                return

        listening = asyncio.create_task(listen())
        await asyncio.sleep(0.3)
        _like(fan, post_id)
        await asyncio.wait_for(listening, 15)
        me = await session.execute(gql("{ me { id } }"))
    assert received[0]["kind"] == "LIKE"
    assert me["me"]["id"] == str(owner.id)


async def test_a_resume_point_older_than_what_is_kept_asks_for_a_resync(
    pipeline_server: LiveServer,
) -> None:
    owner = join(pipeline_server.http_url)
    database = await asyncpg.connect(pipeline_server.settings.database_url)
    try:
        # As if retention had deleted notifications up to id 1000.
        await database.execute("UPDATE notification_retention SET pruned_through = 1000")
        async with connect(pipeline_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
            await init(ws, {"authorization": f"Bearer {owner.token}"})
            await subscribe(ws, "n", LIVE, after="5")
            frame = await receive_skipping_pings(ws)
            await subscribe(ws, "m", LIVE, after="1000")  # at the floor: resumable
            await subscribe(ws, "p", "{ serverInfo { version } }")
            later = [await receive_skipping_pings(ws)]
            while later[-1]["id"] != "p":
                later.append(await receive_skipping_pings(ws))
    finally:
        await database.execute("UPDATE notification_retention SET pruned_through = 0")
        await database.close()
    errors = frame["payload"] if frame["type"] == "error" else frame["payload"]["errors"]
    assert frame["id"] == "n"
    assert errors[0]["extensions"]["code"] == "RESYNC_REQUIRED"
    # "m" replayed nothing and waits for live ones: no frame of its own.
    assert all(frame["id"] in ("n", "p") for frame in later)
