"""Likes: idempotent, counted with the row in one transaction (also under concurrency),
`viewerHasLiked`, the likers list, and an outbox event per change."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import asyncpg
import httpx
import psycopg
import pytest
from support.auth_helpers import bearer
from support.db_rows import insert_posts, insert_users
from support.live_server import LiveServer
from support.observed_pool import ObservedPool
from support.social_helpers import Member, follow_in_db, join, set_private

from fowergram.adapters.postgres.likes import PostgresLikes
from fowergram.adapters.postgres.pool import create_pool
from fowergram.adapters.postgres.posts import PostgresPosts
from fowergram.domain.events import DomainEvent
from fowergram.domain.social.relationship import Relationship

LIKE = "mutation($id: ID!) { likePost(id: $id) { likeCount viewerHasLiked } }"
UNLIKE = "mutation($id: ID!) { unlikePost(id: $id) { likeCount viewerHasLiked } }"
POST = (
    "query($id: ID!, $n: Int, $a: String) { post(id: $id) { likeCount viewerHasLiked "
    "likers(first: $n, after: $a) { edges { node { username } } "
    "pageInfo { hasNextPage endCursor } } } }"
)


@pytest.fixture
def author(new_member: Callable[[], Member]) -> Member:
    return new_member()


def _post(author: Member) -> str:
    data = author.data('mutation { createPost(input: {caption: "like me"}) { id } }')
    return str(data["createPost"]["id"])


def _counts(database_url: str, post_id: str) -> tuple[int, int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT p.like_count, (SELECT count(*) FROM post_likes l WHERE l.post_id = p.id), "
            "(SELECT count(*) FROM outbox o WHERE o.aggregate_id = p.id AND o.kind = 'post.liked') "
            "FROM posts p WHERE p.id = %s",
            (int(post_id),),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_like_is_idempotent_and_unlike_undoes_it(author: Member, migrated_database: str) -> None:
    post_id = _post(author)
    assert author.data(LIKE, {"id": post_id})["likePost"] == {
        "likeCount": 1,
        "viewerHasLiked": True,
    }
    assert author.data(LIKE, {"id": post_id})["likePost"]["likeCount"] == 1
    assert _counts(migrated_database, post_id) == (1, 1, 1)  # one event: one change
    assert author.data(POST, {"id": post_id})["post"]["viewerHasLiked"] is True

    assert author.data(UNLIKE, {"id": post_id})["unlikePost"] == {
        "likeCount": 0,
        "viewerHasLiked": False,
    }
    assert author.data(UNLIKE, {"id": post_id})["unlikePost"]["likeCount"] == 0
    assert _counts(migrated_database, post_id)[:2] == (0, 0)


async def test_concurrent_likes_keep_the_count_equal_to_the_rows(
    live_server: LiveServer, author: Member, migrated_database: str
) -> None:
    post_id = _post(author)
    fans = [join(live_server.http_url) for _ in range(12)]
    try:
        async with httpx.AsyncClient(base_url=live_server.http_url, timeout=20) as client:

            async def send(fan: Member, document: str) -> None:
                response = await client.post(
                    "/graphql",
                    json={"query": document, "variables": {"id": post_id}},
                    headers=bearer(fan.token),
                )
                assert "errors" not in response.json(), response.text

            # Everyone likes twice at once, then half of them unlike, all interleaved.
            await asyncio.gather(*(send(fan, LIKE) for fan in fans for _ in range(2)))
            await asyncio.gather(
                *(send(fan, UNLIKE) for fan in fans[:6]), *(send(fan, LIKE) for fan in fans[6:])
            )
    finally:
        for fan in fans:
            fan.client.close()
    like_count, rows, _ = _counts(migrated_database, post_id)
    assert like_count == rows == 6


def test_likers_are_listed_newest_first_with_cursors(
    live_server: LiveServer, author: Member
) -> None:
    post_id = _post(author)
    fans = [join(live_server.http_url) for _ in range(3)]
    try:
        for fan in fans:
            fan.data(LIKE, {"id": post_id})
        first = author.data(POST, {"id": post_id, "n": 2})["post"]
        assert first["likeCount"] == 3
        assert first["viewerHasLiked"] is False
        names = [edge["node"]["username"] for edge in first["likers"]["edges"]]
        assert names == [fans[2].username, fans[1].username]
        rest = author.data(
            POST, {"id": post_id, "n": 2, "a": first["likers"]["pageInfo"]["endCursor"]}
        )["post"]["likers"]
        assert [edge["node"]["username"] for edge in rest["edges"]] == [fans[0].username]
        assert rest["pageInfo"]["hasNextPage"] is False
    finally:
        for fan in fans:
            fan.client.close()


def test_unknown_and_deleted_posts_cannot_be_liked(author: Member) -> None:
    post_id = _post(author)
    author.data("mutation($id: ID!) { deletePost(id: $id) }", {"id": post_id})
    for target in (post_id, "987654321987"):
        assert author.error(LIKE, {"id": target})["extensions"]["code"] == "NOT_FOUND"


def test_viewer_has_liked_is_false_for_anonymous_viewers(
    live_server: LiveServer, author: Member
) -> None:
    post_id = _post(author)
    author.data(LIKE, {"id": post_id})
    with httpx.Client(base_url=live_server.http_url) as anonymous:
        body = anonymous.post("/graphql", json={"query": POST, "variables": {"id": post_id}}).json()
    assert body["data"]["post"]["viewerHasLiked"] is False
    assert body["data"]["post"]["likeCount"] == 1


def test_only_who_may_see_a_post_may_like_it(
    author: Member, new_member: Callable[[], Member], migrated_database: str
) -> None:
    stranger, follower, blocked = new_member(), new_member(), new_member()
    post_id = _post(author)
    set_private(migrated_database, author)
    follow_in_db(migrated_database, follower, author)
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES (%s, %s)", (blocked.id, author.id)
        )
    follow_in_db(migrated_database, blocked, author)  # following does not undo a block
    for who in (stranger, blocked):
        for mutation in (LIKE, UNLIKE):
            assert who.error(mutation, {"id": post_id})["extensions"]["code"] == "NOT_FOUND"
    assert follower.data(LIKE, {"id": post_id})["likePost"]["likeCount"] == 1
    assert author.data(LIKE, {"id": post_id})["likePost"]["likeCount"] == 2
    assert _counts(migrated_database, post_id) == (2, 2, 2)  # the refusals changed nothing
    author.data("mutation($id: ID!) { deletePost(id: $id) }", {"id": post_id})
    assert follower.error(UNLIKE, {"id": post_id})["extensions"]["code"] == "NOT_FOUND"
    assert author.error(LIKE, {"id": post_id})["extensions"]["code"] == "NOT_FOUND"


async def test_the_standings_likes_read_together_are_one_statement_each_its_viewer_s(
    author: Member,
    new_member: Callable[[], Member],
    migrated_database: str,
    observed: ObservedPool,
) -> None:
    stranger, follower, blocked = new_member(), new_member(), new_member()
    post_id = int(_post(author))
    set_private(migrated_database, author)
    follow_in_db(migrated_database, follower, author)
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES (%s, %s)", (author.id, blocked.id)
        )
    posts = PostgresPosts(observed.pool)
    found = await asyncio.gather(
        *(posts.standing(who, post_id) for who in (follower.id, stranger.id, blocked.id)),
        posts.standing(None, post_id),
        posts.standing(author.id, post_id),
        posts.standing(follower.id, 987654321987),
    )

    assert len(observed.statements) == 1  # six reads, one statement
    *known, unknown = found
    assert unknown is None
    standings = [s for s in known if s is not None]
    assert [(s.post_id, s.author_id, s.owner.is_private) for s in standings] == [
        (post_id, author.id, True)
    ] * 5
    as_follower, as_stranger, as_blocked, as_nobody, as_author = (s.relationship for s in standings)
    assert as_follower == Relationship(following=True)
    assert as_stranger == as_nobody == as_author == Relationship()
    assert as_blocked == Relationship(blocked_by=True)


def _event(kind: str, post_id: int, actor_id: int) -> DomainEvent:
    return DomainEvent(kind, post_id, {"actorId": actor_id})


async def test_likes_of_one_turn_are_one_statement_a_pair_s_changes_in_order(
    pool: asyncpg.Pool, migrated_database: str, observed: ObservedPool
) -> None:
    author, *fans = await insert_users(pool, 4)
    first, second = await insert_posts(pool, author, 2)
    likes = PostgresLikes(observed.pool)
    counts = await asyncio.gather(
        *(likes.like(fan, first, event=_event("post.liked", first, fan)) for fan in fans),
        likes.like(fans[0], second, event=_event("post.liked", second, fans[0])),
        likes.unlike(fans[0], second, event=_event("post.unliked", second, fans[0])),
        likes.like(fans[0], second, event=_event("post.liked", second, fans[0])),
        likes.like(fans[0], second, event=_event("post.liked", second, fans[0])),
    )

    # One pair's like, unlike, like and like again: four rounds, one statement each (the
    # others: asyncpg's first look at the statement's array types).
    assert sum("INSERT INTO post_likes" in statement for statement in observed.statements) == 4
    assert counts[:3] == [3, 3, 3]  # the post's count after the statement
    assert counts[3:] == [1, 0, 1, 1]
    for post_id, likers in ((first, 3), (second, 1)):
        assert _counts(migrated_database, str(post_id))[:2] == (likers, likers)
    kinds = await pool.fetch(  # other kinds' aggregates (comments) share the numbers
        "SELECT kind FROM outbox WHERE aggregate_id = $1 AND kind LIKE 'post.%' ORDER BY id",
        second,
    )
    # The repeated like changed nothing, so it recorded nothing.
    assert [row["kind"] for row in kinds] == ["post.liked", "post.unliked", "post.liked"]


async def test_a_like_that_fails_fails_alone_and_the_others_of_its_turn_are_written(
    pool: asyncpg.Pool,
) -> None:
    author, *fans = await insert_users(pool, 3)
    post_id, gone = await insert_posts(pool, author, 2)
    await pool.execute("DELETE FROM posts WHERE id = $1", gone)  # after its standing was read
    likes = PostgresLikes(pool)

    outcomes = await asyncio.gather(
        *(likes.like(fan, post_id, event=_event("post.liked", post_id, fan)) for fan in fans),
        likes.like(fans[0], gone, event=_event("post.liked", gone, fans[0])),
        return_exceptions=True,
    )

    # Tried again one by one after the turn's statement failed: each its count then.
    assert outcomes[:2] == [1, 2]
    assert isinstance(outcomes[2], asyncpg.ForeignKeyViolationError)
    assert await pool.fetchval("SELECT like_count FROM posts WHERE id = $1", post_id) == 2
    rows = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND kind = 'post.liked'", gone
    )
    assert rows == 0  # nothing of the failed like was written


async def test_two_instances_batching_likes_of_the_same_posts_keep_counts_equal_to_rows(
    pool: asyncpg.Pool, migrated_database: str
) -> None:
    author, *fans = await insert_users(pool, 7)
    posts = await insert_posts(pool, author, 3)
    rng = random.Random(5)
    pools = [await create_pool(migrated_database, min_size=1, max_size=2) for _ in range(2)]
    try:
        instances = [PostgresLikes(each) for each in pools]

        async def turn(likes: PostgresLikes) -> None:
            changes = []
            for _ in range(8):
                fan, post = rng.choice(fans), rng.choice(posts)
                change = likes.like if rng.random() < 0.6 else likes.unlike
                changes.append(change(fan, post, event=_event("post.liked", post, fan)))
            await asyncio.gather(*changes)

        for _ in range(25):  # the two instances' statements race on the same posts' locks
            await asyncio.gather(*(turn(likes) for likes in instances))
    finally:
        for each in pools:
            await each.close()

    counted = await pool.fetch(
        "SELECT p.like_count, (SELECT count(*) FROM post_likes l WHERE l.post_id = p.id) AS rows "
        "FROM posts p WHERE p.id = ANY($1::bigint[])",
        posts,
    )
    assert [row["like_count"] for row in counted] == [row["rows"] for row in counted]
    assert sum(row["rows"] for row in counted) > 0
