"""Post pages: the posts (with author and the viewer's like) asked in one turn of the
event loop are read in one statement, each ask with its own viewer's standing."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
from support.db_rows import insert_follow, insert_posts, insert_users
from support.observed_pool import ObservedPool

from fowergram.adapters.postgres.post_rows import POST_COLUMNS
from fowergram.adapters.postgres.posts import PostgresPosts
from fowergram.domain.social.posts import Post
from fowergram.domain.social.relationship import Relationship


async def test_authored_posts_read_together_are_one_statement_each_its_viewer_s(
    pool: asyncpg.Pool, observed: ObservedPool
) -> None:
    author, fan, stranger = await insert_users(pool, 3)
    first, gone = await insert_posts(pool, author, 2)
    await pool.execute("UPDATE posts SET deleted_at = now() WHERE id = $1", gone)
    await pool.execute("INSERT INTO post_likes (user_id, post_id) VALUES ($1, $2)", fan, first)
    await insert_follow(pool, fan, author)
    posts = PostgresPosts(observed.pool)

    found = await asyncio.gather(
        posts.get_authored(fan, first),
        posts.get_authored(stranger, first),
        posts.get_authored(None, gone),
        posts.get_authored(fan, 987654321987),
    )

    assert len(observed.statements) == 1  # four reads, one statement
    as_fan, as_stranger, deleted, unknown = found
    assert unknown is None
    assert as_fan is not None
    assert as_stranger is not None
    assert deleted is not None
    assert (as_fan.post.id, as_fan.author.id, as_fan.viewer_liked) == (first, author, True)
    assert as_fan.relationship == Relationship(following=True)
    assert (as_stranger.post.id, as_stranger.viewer_liked) == (first, False)
    assert as_stranger.relationship == Relationship()
    assert deleted.post.deleted  # the service decides what a deleted post shows


def test_post_columns_are_in_the_post_s_field_order() -> None:
    # post_from builds a Post positionally from these columns.
    assert tuple(field.name for field in dataclasses.fields(Post)) == POST_COLUMNS
