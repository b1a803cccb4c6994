"""Two server processes on different ports against the same PostgreSQL, Redis and NATS:
what happens through one reaches sockets on the other; killing one (-9) takes its users
offline within the bound, and its clients resume on the other with nothing missed.

The tests run in file order on one pair of instances; the last one kills instance A."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.live_server import LiveServer
from support.server_process import ServerProcess
from support.services import ServiceUrls, create_database, drop_database
from support.social_helpers import Member, follow_in_db, join
from support.ws_client import (
    TRANSPORT_WS,
    closed_with,
    init,
    receive_skipping_pings,
    subscribe,
)
from websockets.asyncio.client import ClientConnection, connect

NOTIFICATIONS = "subscription N($after: ID) { notifications(after: $after) { id kind } }"
PRESENCE = "subscription P($ids: [ID!]!) { presence(userIds: $ids) { userId status } }"
CREATE_POST = 'mutation { createPost(input: {caption: "two instances"}) { id } }'
LIKE = "mutation L($id: ID!) { likePost(id: $id) { likeCount } }"
INSTANCE_TTL_S = 3.0


@dataclass
class Pair:
    a: ServerProcess
    b: ServerProcess
    database: str


@pytest.fixture(scope="module")
def pair(
    service_urls: ServiceUrls, database_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    database = create_database(service_urls.database_server, template=database_template)
    unique = uuid.uuid4().hex[:10]
    env = {
        "DATABASE_URL": database,
        "REDIS_URL": service_urls.redis,
        "NATS_URL": service_urls.nats,
        "NATS_SUBJECT_PREFIX": f"m{unique}",
        "REDIS_KEY_PREFIX": f"m{unique}:",
        "OUTBOX_RELAY_POLL_INTERVAL_S": "0.2",
        "PRESENCE_HEARTBEAT_S": "0.5",
        "PRESENCE_INSTANCE_TTL_S": str(INSTANCE_TTL_S),
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "ARGON2_PARALLELISM": "1",
        "LOG_LEVEL": "WARNING",
    }
    logs: Path = tmp_path_factory.mktemp("instances")
    a = ServerProcess(env, logs / "a.log")
    b = ServerProcess(env, logs / "b.log")
    try:
        a.start()
        b.start()
        yield Pair(a, b, database)
    finally:
        for server in (a, b):
            server.stop()
        drop_database(service_urls.database_server, database)


async def _socket(server: ServerProcess | LiveServer, member: Member) -> ClientConnection:
    ws = await connect(server.ws_url, subprotocols=[TRANSPORT_WS]).__aenter__()
    await init(ws, {"authorization": f"Bearer {member.token}"})
    return ws


async def _data(ws: ClientConnection, field: str) -> Any:
    frame = await receive_skipping_pings(ws, timeout=15)
    assert frame["type"] == "next", frame
    return frame["payload"]["data"][field]


def _friends(pair: Pair) -> tuple[Member, Member]:
    one, other = join(pair.b.http_url), join(pair.b.http_url)
    follow_in_db(pair.database, one, other)
    follow_in_db(pair.database, other, one)
    return one, other


async def test_a_like_through_b_reaches_the_owners_socket_on_a(pair: Pair) -> None:
    owner, fan = join(pair.a.http_url), join(pair.b.http_url)
    post_id = owner.data(CREATE_POST)["createPost"]["id"]
    ws = await _socket(pair.a, owner)
    await subscribe(ws, "n", NOTIFICATIONS)
    await asyncio.sleep(0.2)
    fan.data(LIKE, {"id": post_id})
    notification = await _data(ws, "notifications")
    assert notification["kind"] == "LIKE"
    await ws.close()


async def test_signing_out_through_b_closes_the_session_on_a(pair: Pair) -> None:
    member = join(pair.b.http_url)
    ws = await _socket(pair.a, member)
    response = member.client.post(
        "/auth/signout", headers={"authorization": f"Bearer {member.token}"}
    )
    assert response.status_code == 200
    started = time.monotonic()
    assert await closed_with(ws) == 4403
    assert time.monotonic() - started < 1.0


async def test_presence_set_on_a_is_seen_through_b(pair: Pair) -> None:
    watcher, watched = _friends(pair)
    on_b = await _socket(pair.b, watcher)
    await subscribe(on_b, "p", PRESENCE, ids=[str(watched.id)])
    assert await _data(on_b, "presence") == [{"userId": str(watched.id), "status": "OFFLINE"}]
    on_a = await _socket(pair.a, watched)
    assert await _data(on_b, "presence") == [{"userId": str(watched.id), "status": "ONLINE"}]
    query = "query($ids: [ID!]!) { presence(userIds: $ids) { userId status } }"
    assert watcher.data(query, {"ids": [str(watched.id)]})["presence"] == [
        {"userId": str(watched.id), "status": "ONLINE"}
    ]
    await on_a.close()
    assert await _data(on_b, "presence") == [{"userId": str(watched.id), "status": "OFFLINE"}]
    await on_b.close()


async def test_killing_a_takes_its_users_offline_and_its_clients_resume_on_b(pair: Pair) -> None:
    watcher, owner = _friends(pair)
    fan = join(pair.b.http_url)
    post_ids = [owner.data(CREATE_POST)["createPost"]["id"] for _ in range(3)]
    on_b = await _socket(pair.b, watcher)
    await subscribe(on_b, "p", PRESENCE, ids=[str(owner.id)])
    await _data(on_b, "presence")  # the snapshot
    on_a = await _socket(pair.a, owner)
    await subscribe(on_a, "n", NOTIFICATIONS)
    assert await _data(on_b, "presence") == [{"userId": str(owner.id), "status": "ONLINE"}]
    fan.data(LIKE, {"id": post_ids[0]})
    last_seen = (await _data(on_a, "notifications"))["id"]

    pair.a.kill()
    killed = time.monotonic()
    fan.data(LIKE, {"id": post_ids[1]})  # while the owner's instance is gone
    assert await _data(on_b, "presence") == [{"userId": str(owner.id), "status": "OFFLINE"}]
    # The bound: the instance's heartbeat expires, and a sweep notices within a beat or two.
    assert time.monotonic() - killed < INSTANCE_TTL_S + 5

    resumed = await _socket(pair.b, owner)
    await subscribe(resumed, "n", NOTIFICATIONS, after=last_seen)
    missed = await _data(resumed, "notifications")
    fan.data(LIKE, {"id": post_ids[2]})
    live = await _data(resumed, "notifications")
    assert int(last_seen) < int(missed["id"]) < int(live["id"])
    for ws in (on_b, resumed):
        await ws.close()
