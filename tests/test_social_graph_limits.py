"""Counters under concurrency, the following cap and the follow rate, through the API and
through GraphService wired to the real PostgreSQL and Redis adapters with small limits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from support.auth_helpers import bearer
from support.graph_helpers import RELATIONSHIP, Member, act, counts, fails, join
from support.live_server import LiveServer
from support.services import ServiceUrls

from fowergram.adapters.postgres import pool as pg_pool
from fowergram.adapters.postgres.follows import PostgresGraph
from fowergram.adapters.postgres.relationships import PostgresRelationships
from fowergram.adapters.redis import client as redis_client
from fowergram.adapters.redis.rate_limit import RedisRateLimiter
from fowergram.domain.auth.ports import Rate
from fowergram.domain.auth.viewer import Role, Viewer
from fowergram.domain.errors import Conflict, RateLimited
from fowergram.domain.social.graph import FOLLOWS_PER_HOUR, MAX_FOLLOWING
from fowergram.domain.social.graph_service import GraphService

FOLLOW = f"mutation($u: ID!) {{ follow(userId: $u) {{ {RELATIONSHIP} }} }}"
UNFOLLOW = f"mutation($u: ID!) {{ unfollow(userId: $u) {{ {RELATIONSHIP} }} }}"


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.http_url, timeout=10) as http:
        yield http


async def _graphql(
    http: httpx.AsyncClient, who: Member, query: str, user_id: str
) -> dict[str, object]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": {"u": user_id}}, headers=bearer(who.token)
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_counters_match_the_rows_under_concurrent_follows_and_unfollows(
    client: httpx.Client, live_server: LiveServer, migrated_database: str
) -> None:
    star = join(client)
    crowd = [join(client) for _ in range(20)]
    async with httpx.AsyncClient(base_url=live_server.http_url, timeout=30) as http:
        # Both directions at once (A→B and B→A lock the same two rows), then a storm of
        # follows, unfollows and repeats on the same pairs.
        round_one = [_graphql(http, fan, FOLLOW, star.id) for fan in crowd]
        round_one += [_graphql(http, star, FOLLOW, fan.id) for fan in crowd]
        round_two = []
        for i, fan in enumerate(crowd):
            round_two += [
                _graphql(http, fan, UNFOLLOW if i % 2 else FOLLOW, star.id),
                _graphql(http, fan, FOLLOW, star.id),
                _graphql(http, star, UNFOLLOW if i % 3 else FOLLOW, fan.id),
            ]
        results = await asyncio.gather(*round_one)
        results += await asyncio.gather(*round_two)

    assert all("errors" not in body for body in results), [b for b in results if "errors" in b]
    for member in (star, *crowd):
        followers, following, counted_followers, counted_following = counts(
            migrated_database, member.id
        )
        assert (followers, following) == (counted_followers, counted_following)
    assert counts(migrated_database, star.id)[2] > 0  # the storm left real follows behind


def test_following_is_capped_with_a_clear_conflict(
    client: httpx.Client, migrated_database: str
) -> None:
    assert MAX_FOLLOWING == 7_500
    busy, target = join(client), join(client)
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET following_count = %s WHERE id = %s", (MAX_FOLLOWING, int(busy.id))
        )

    error = fails(client, busy, FOLLOW, u=target.id)

    assert error["extensions"] == {"code": "CONFLICT", "field": "userId"}
    assert "7500" in error["message"]
    assert counts(migrated_database, target.id)[0] == 0


async def test_follows_are_rate_limited_per_user_with_the_retry_time(
    client: httpx.Client, live_server: LiveServer
) -> None:
    assert Rate(limit=150, window_s=3600) == FOLLOWS_PER_HOUR
    eager, target, other = join(client), join(client), join(client)
    async with httpx.AsyncClient(base_url=live_server.http_url, timeout=30) as http:
        allowed = await asyncio.gather(
            *(_graphql(http, eager, FOLLOW, target.id) for _ in range(FOLLOWS_PER_HOUR.limit))
        )
        refused = await _graphql(http, eager, FOLLOW, other.id)
        someone_else = await _graphql(http, other, FOLLOW, target.id)

    assert all("errors" not in body for body in allowed)
    errors = refused["errors"]
    assert isinstance(errors, list)
    extensions = errors[0]["extensions"]
    assert extensions["code"] == "RATE_LIMITED"
    assert 1 <= extensions["retryAfter"] <= 3600
    assert "errors" not in someone_else  # the limit is per user
    assert act(client, eager, "unfollow", target.id)["following"] is False  # not limited


# GraphService on the real adapters, with limits small enough to reach.


@pytest.fixture
async def small_graph(
    service_urls: ServiceUrls, migrated_database: str
) -> AsyncIterator[GraphService]:
    pool = await pg_pool.create_pool(migrated_database, min_size=1, max_size=3)
    redis = redis_client.create_redis(service_urls.redis)
    try:
        yield GraphService(
            store=PostgresGraph(pool),
            standings=PostgresRelationships(pool),
            relationships=PostgresRelationships(pool),
            limiter=RedisRateLimiter(redis, key_prefix=f"t{uuid.uuid4().hex[:10]}:"),
            max_following=2,
            follow_rate=Rate(limit=10, window_s=60),
        )
    finally:
        await redis.aclose()
        await pool.close()


def _people(database_url: str, count: int, *, private: bool = False) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        ids = []
        for _ in range(count):
            name = f"g_{uuid.uuid4().hex[:16]}"
            row = conn.execute(
                "INSERT INTO users (username, email, is_private) VALUES (%s, %s, %s) RETURNING id",
                (name, f"{name}@example.com", private),
            ).fetchone()
            assert row is not None
            ids.append(int(row[0]))
    return ids


def _viewer(user_id: int) -> Viewer:
    return Viewer(user_id=user_id, session_id="test", role=Role.USER)


async def test_the_cap_counts_follows_and_guards_requests(
    small_graph: GraphService, migrated_database: str
) -> None:
    me, a, b, c = _people(migrated_database, 4)
    (locked,) = _people(migrated_database, 1, private=True)
    viewer = _viewer(me)
    await small_graph.follow(viewer, a)
    await small_graph.follow(viewer, str(b))

    with pytest.raises(Conflict, match="at most 2 accounts"):
        await small_graph.follow(viewer, c)
    with pytest.raises(Conflict, match="at most 2 accounts"):
        await small_graph.follow(viewer, locked)
    assert (await small_graph.follow(viewer, a)).following  # a repeat is not a new follow
    await small_graph.unfollow(viewer, a)
    assert (await small_graph.follow(viewer, locked)).requested


async def test_the_follow_rate_counts_every_attempt(
    small_graph: GraphService, migrated_database: str
) -> None:
    me, a = _people(migrated_database, 2)
    viewer = _viewer(me)
    for _ in range(10):
        await small_graph.follow(viewer, a)

    with pytest.raises(RateLimited) as refused:
        await small_graph.follow(viewer, a)

    assert 1 <= refused.value.retry_after_s <= 60
    assert not (await small_graph.unfollow(viewer, a)).following
