"""Profile pages: the reads of one turn of the event loop are one statement, each ask its
own profile, relationship and grid (or None); a hostile ask fails alone."""

from __future__ import annotations

import asyncio

import asyncpg
from support.db_rows import insert_follow, insert_posts, insert_users
from support.observed_pool import ObservedPool

from fowergram.adapters.postgres.profiles import PostgresProfiles
from fowergram.domain.social.relationship import Relationship


async def test_profile_pages_read_together_are_one_statement_each_its_own(
    pool: asyncpg.Pool, observed: ObservedPool
) -> None:
    author, quiet, fan, stranger = await insert_users(pool, 4)
    posts = await insert_posts(pool, author, 5)
    await pool.execute("DELETE FROM posts WHERE id = $1", posts[1])
    await pool.execute("INSERT INTO post_likes (user_id, post_id) VALUES ($1, $2)", fan, posts[4])
    await insert_follow(pool, fan, author)
    rows = await pool.fetch("SELECT id, username FROM users WHERE id = ANY($1)", [author, quiet])
    names: dict[int, str] = {row["id"]: row["username"] for row in rows}
    profiles = PostgresProfiles(observed.pool)

    found = await asyncio.gather(
        profiles.get_with_grid(fan, names[author].upper(), 2),
        profiles.get_with_grid(stranger, names[author], 10),
        profiles.get_with_grid(None, names[quiet], 12),
        profiles.get_with_grid(fan, "nobody-by-that-name", 12),
    )

    assert len(observed.statements) == 1  # four pages, one statement
    as_fan, as_stranger, of_quiet, unknown = found
    assert unknown is None
    assert as_fan is not None
    assert as_stranger is not None
    assert of_quiet is not None
    profile, relation, grid = as_fan
    assert (profile.id, relation) == (author, Relationship(following=True))
    assert [post.id for post in grid.page.items] == [posts[4], posts[3]]
    assert grid.page.has_next
    assert grid.viewer_liked == {posts[4]}
    profile, relation, grid = as_stranger
    assert (profile.id, relation) == (author, Relationship())
    assert [post.id for post in grid.page.items] == [posts[4], posts[3], posts[2], posts[0]]
    assert not grid.page.has_next
    assert grid.viewer_liked == frozenset()
    profile, _, grid = of_quiet
    assert profile.id == quiet
    assert grid.page.items == []


async def test_a_username_postgresql_refuses_fails_alone(pool: asyncpg.Pool) -> None:
    (author,) = await insert_users(pool, 1)
    name = await pool.fetchval("SELECT username FROM users WHERE id = $1", author)
    profiles = PostgresProfiles(pool)

    outcomes = await asyncio.gather(
        profiles.get_with_grid(None, "nul\x00byte", 12),
        profiles.get_with_grid(None, name, 12),
        return_exceptions=True,
    )

    assert isinstance(outcomes[0], asyncpg.PostgresError)
    assert not isinstance(outcomes[1], BaseException)
    assert outcomes[1] is not None
    assert outcomes[1][0].id == author
