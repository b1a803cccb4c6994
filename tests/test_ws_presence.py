"""The `presence` subscription through a real server: a snapshot, then batched changes,
only of people the viewer may see."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from conftest import make_settings
from support.live_server import LiveServer
from support.services import ServiceUrls
from support.social_helpers import Member, follow_in_db, join
from support.ws_client import TRANSPORT_WS, init, receive_skipping_pings, subscribe
from websockets.asyncio.client import connect

from fowergram.app import create_app
from fowergram.graphql.live import presence as presence_subscription

WATCH = "subscription P($ids: [ID!]!) { presence(userIds: $ids) { userId status lastSeenAt } }"
HIDE_ACTIVITY = "mutation { updateProfile(input: {showActivityStatus: false}) { id } }"
# Wide enough that a slow machine still fits several changes in one batch; the server
# runs in this process, so the subscription reads the patched value.
WIDE_BATCH_S = 2.0


@pytest.fixture(scope="module")
def server(service_urls: ServiceUrls, migrated_database: str) -> Iterator[LiveServer]:
    settings = make_settings(service_urls, migrated_database)
    with LiveServer(create_app(settings), settings) as live:
        yield live


async def test_a_friend_coming_and_going_is_seen_and_a_stranger_is_not(
    server: LiveServer,
) -> None:
    database = server.settings.database_url or ""
    me, friend, stranger = (join(server.http_url) for _ in range(3))
    follow_in_db(database, me, friend)
    follow_in_db(database, friend, me)
    follow_in_db(database, me, stranger)  # one-way: not enough
    async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {me.token}"})
        await subscribe(ws, "p", WATCH, ids=[str(friend.id), str(stranger.id)])
        snapshot = (await receive_skipping_pings(ws))["payload"]["data"]["presence"]
        assert snapshot == [{"userId": str(friend.id), "status": "OFFLINE", "lastSeenAt": None}]
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as theirs:
            await init(theirs, {"authorization": f"Bearer {friend.token}"})
            online = (await receive_skipping_pings(ws))["payload"]["data"]["presence"]
            assert online == [{"userId": str(friend.id), "status": "ONLINE", "lastSeenAt": None}]
            async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as strangers:
                await init(strangers, {"authorization": f"Bearer {stranger.token}"})
        offline = (await receive_skipping_pings(ws))["payload"]["data"]["presence"]
    assert [(p["userId"], p["status"]) for p in offline] == [(str(friend.id), "OFFLINE")]
    assert offline[0]["lastSeenAt"] is not None


async def test_someone_who_hides_their_activity_later_is_not_seen_any_more(
    server: LiveServer,
) -> None:
    database = server.settings.database_url or ""
    me, hiding, open_friend = (join(server.http_url) for _ in range(3))
    for friend in (hiding, open_friend):
        follow_in_db(database, me, friend)
        follow_in_db(database, friend, me)
    async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {me.token}"})
        await subscribe(ws, "p", WATCH, ids=[str(hiding.id), str(open_friend.id)])
        snapshot = (await receive_skipping_pings(ws))["payload"]["data"]["presence"]
        assert {p["userId"] for p in snapshot} == {str(hiding.id), str(open_friend.id)}
        # After the subscription started: hidden from its next change on.
        hiding.data(HIDE_ACTIVITY)
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as theirs:
            await init(theirs, {"authorization": f"Bearer {hiding.token}"})
            await asyncio.sleep(0.5)  # past a batch: their change was seen and dropped
            async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as others:
                await init(others, {"authorization": f"Bearer {open_friend.token}"})
                seen = (await receive_skipping_pings(ws))["payload"]["data"]["presence"]
    assert [(p["userId"], p["status"]) for p in seen] == [(str(open_friend.id), "ONLINE")]


async def test_too_many_or_bad_ids_are_refused(server: LiveServer) -> None:
    me = join(server.http_url)
    async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {me.token}"})
        await subscribe(ws, "many", WATCH, ids=[str(n) for n in range(1, 102)])
        await subscribe(ws, "bad", WATCH, ids=["1; DROP TABLE users"])
        codes: dict[str, str] = {}
        while len(codes) < 2:
            frame = await receive_skipping_pings(ws)
            if frame["type"] == "complete":
                continue
            errors = frame["payload"] if frame["type"] == "error" else frame["payload"]["errors"]
            codes[frame["id"]] = errors[0]["extensions"]["code"]
    assert codes == {"many": "BAD_USER_INPUT", "bad": "BAD_USER_INPUT"}


async def test_a_client_whose_network_drops_goes_offline_and_frees_its_socket(
    server: LiveServer,
) -> None:
    database = server.settings.database_url or ""
    me, friend = join(server.http_url), join(server.http_url)
    follow_in_db(database, me, friend)
    follow_in_db(database, friend, me)
    async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {me.token}"})
        await subscribe(ws, "p", WATCH, ids=[str(friend.id)])
        await receive_skipping_pings(ws)  # the snapshot
        theirs = await connect(server.ws_url, subprotocols=[TRANSPORT_WS]).__aenter__()
        await init(theirs, {"authorization": f"Bearer {friend.token}"})
        await subscribe(theirs, "t", "subscription { ticks(every: 50) }")
        assert (await receive_skipping_pings(ws))["payload"]["data"]["presence"][0][
            "status"
        ] == "ONLINE"
        theirs.transport.abort()  # no close frame, no FIN handshake: the network is gone
        offline = (await receive_skipping_pings(ws))["payload"]["data"]["presence"]
    assert offline[0]["status"] == "OFFLINE"


@pytest.fixture
def wide_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presence_subscription, "PRESENCE_BATCH_S", WIDE_BATCH_S)


def _friends_of(server: LiveServer, me: Member, count: int) -> list[Member]:
    """`count` new people who follow `me` and whom `me` follows: each may see the other."""
    database = server.settings.database_url or ""
    friends = [join(server.http_url) for _ in range(count)]
    for friend in friends:
        follow_in_db(database, me, friend)
        follow_in_db(database, friend, me)
    return friends


@pytest.mark.usefixtures("wide_batches")
async def test_friends_coming_online_together_arrive_in_one_list(server: LiveServer) -> None:
    me = join(server.http_url)
    first, second = _friends_of(server, me, 2)
    async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {me.token}"})
        await subscribe(ws, "p", WATCH, ids=[str(first.id), str(second.id)])
        snapshot = (await receive_skipping_pings(ws))["payload"]["data"]["presence"]
        assert [p["status"] for p in snapshot] == ["OFFLINE", "OFFLINE"]
        async with (
            connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as firsts,
            connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as seconds,
        ):
            await init(firsts, {"authorization": f"Bearer {first.token}"})
            await init(seconds, {"authorization": f"Bearer {second.token}"})
            batch = (await receive_skipping_pings(ws))["payload"]["data"]["presence"]
    assert sorted((p["userId"], p["status"]) for p in batch) == sorted(
        [(str(first.id), "ONLINE"), (str(second.id), "ONLINE")]
    )


@pytest.mark.usefixtures("wide_batches")
async def test_coming_and_going_within_one_batch_shows_only_the_latest_state(
    server: LiveServer,
) -> None:
    me = join(server.http_url)
    fleeting, staying = _friends_of(server, me, 2)
    async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {me.token}"})
        await subscribe(ws, "p", WATCH, ids=[str(fleeting.id), str(staying.id)])
        await receive_skipping_pings(ws)  # the snapshot
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as brief:
            await init(brief, {"authorization": f"Bearer {fleeting.token}"})
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as staying_socket:
            await init(staying_socket, {"authorization": f"Bearer {staying.token}"})
            batch = (await receive_skipping_pings(ws))["payload"]["data"]["presence"]
    # One entry each: the online-then-offline person only as they ended up.
    assert sorted((p["userId"], p["status"]) for p in batch) == sorted(
        [(str(fleeting.id), "OFFLINE"), (str(staying.id), "ONLINE")]
    )
    assert next(p for p in batch if p["userId"] == str(fleeting.id))["lastSeenAt"] is not None
