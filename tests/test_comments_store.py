"""Comment threads: the pages of one turn of the event loop are one statement per order,
each ask its own page, cursor and viewer (authors' standing, likes)."""

from __future__ import annotations

import asyncio

import asyncpg
from support.db_rows import insert_posts, insert_users
from support.observed_pool import ObservedPool

from fowergram.adapters.postgres.comments import PostgresComments
from fowergram.domain.social.comments import CommentOrder
from fowergram.domain.social.relationship import Relationship

NEWEST, OLDEST = CommentOrder.NEWEST, CommentOrder.OLDEST


async def test_threads_read_together_are_one_statement_per_order_each_its_own(
    pool: asyncpg.Pool, observed: ObservedPool
) -> None:
    author, fan, blocker, viewer = await insert_users(pool, 4)
    post, quiet = await insert_posts(pool, author, 2)
    rows = await pool.fetch(
        "INSERT INTO comments (post_id, author_id, body) "
        "SELECT $1, unnest($2::bigint[]), 'hi' RETURNING id",
        post,
        [fan, blocker, fan, fan],
    )
    first, second, third, gone = sorted(row["id"] for row in rows)
    await pool.execute("UPDATE comments SET deleted_at = now() WHERE id = $1", gone)
    await pool.execute(
        "INSERT INTO comment_likes (comment_id, user_id) VALUES ($1, $2)", third, viewer
    )
    await pool.execute(
        "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)", blocker, viewer
    )
    comments = PostgresComments(observed.pool)

    newest, after_third, anonymous, oldest, empty = await asyncio.gather(
        comments.by_post(viewer, post, NEWEST, None, 2),
        comments.by_post(viewer, post, NEWEST, (third,), 10),
        comments.by_post(None, post, NEWEST, None, 10),
        comments.by_post(viewer, post, OLDEST, None, 10),
        comments.by_post(viewer, quiet, NEWEST, None, 10),
    )

    assert len(observed.statements) == 2  # one per order
    assert [c.id for c in newest.page.items] == [third, second]
    assert newest.page.has_next
    assert newest.viewer_liked == {third}
    assert newest.authors[blocker][1] == Relationship(blocked_by=True)
    assert newest.authors[fan][1] == Relationship()
    assert [c.id for c in after_third.page.items] == [second, first]
    assert not after_third.page.has_next
    assert [c.id for c in anonymous.page.items] == [third, second, first]
    assert anonymous.viewer_liked == frozenset()
    assert anonymous.authors[blocker][1] == Relationship()
    assert [c.id for c in oldest.page.items] == [first, second, third]
    assert (empty.page.items, empty.authors, empty.viewer_liked) == ([], {}, frozenset())
