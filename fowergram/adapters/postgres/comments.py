"""Comments and comment likes: each write one transaction with its counters and event.

Lock order, the same in every write so concurrent ones cannot deadlock: the top-level
comment, then its replies, then the post.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import asyncpg

from fowergram.adapters.postgres.outbox import record_events
from fowergram.adapters.postgres.relationships import standing_columns, standing_from_row
from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page
from fowergram.domain.social.comments import Comment, CommentOrder, CommentThread, NewComment

_SELECT = (
    "SELECT c.id, c.post_id, p.author_id AS post_author_id, c.author_id, c.parent_id, c.body, "
    "c.like_count, c.reply_count, c.created_at, c.deleted_at IS NOT NULL AS deleted "
    "FROM comments c JOIN posts p ON p.id = c.post_id "
)
_BY_IDS = _SELECT + "WHERE c.id = ANY($1::bigint[])"
# $1 the viewer, $2 the post, $3 the cursor, $4 the limit: a page of live top-level
# comments, each with its author's standing for the viewer (read once per author) and
# whether the viewer liked it.
_THREAD = (
    "WITH c AS ("  # noqa: S608  (constants)
    + _SELECT
    + "WHERE c.post_id = $2 AND c.parent_id IS NULL AND c.deleted_at IS NULL "  # noqa: S608
    "AND ($3::bigint IS NULL OR c.id {after} $3) ORDER BY c.id {direction} LIMIT $4), "
    "authors AS MATERIALIZED ("
    f"SELECT u.id AS author_key, {standing_columns('author_')} FROM users u "
    "WHERE u.id IN (SELECT author_id FROM c)) "
    "SELECT c.*, authors.*, EXISTS (SELECT 1 FROM comment_likes l "
    "WHERE l.comment_id = c.id AND l.user_id = $1) AS viewer_liked "
    "FROM c LEFT JOIN authors ON authors.author_key = c.author_id ORDER BY c.id {direction}"
)
_NEWEST = _THREAD.format(after="<", direction="DESC")
_OLDEST = _THREAD.format(after=">", direction="ASC")
_REPLIES = (
    _SELECT + "WHERE c.parent_id = $1 AND c.deleted_at IS NULL "
    "AND ($2::bigint IS NULL OR c.id > $2) ORDER BY c.id LIMIT $3"
)
_DELETE_REPLIES = (
    "WITH gone AS (UPDATE comments SET deleted_at = now() "
    "WHERE parent_id = $1 AND deleted_at IS NULL RETURNING 1) SELECT count(*) FROM gone"
)


class _Gone(Exception):
    """The post or the parent went away: roll the transaction back."""


def _comment(row: asyncpg.Record) -> Comment:
    return Comment(
        id=row["id"],
        post_id=row["post_id"],
        post_author_id=row["post_author_id"],
        author_id=row["author_id"],
        parent_id=row["parent_id"],
        body=row["body"],
        like_count=row["like_count"],
        reply_count=row["reply_count"],
        created_at=row["created_at"],
        deleted=row["deleted"],
    )


class PostgresComments:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, comment: NewComment, *, event: DomainEvent) -> Comment | None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if comment.parent_id is not None and not await conn.fetchval(
                    "UPDATE comments SET reply_count = reply_count + 1 WHERE id = $1 "
                    "AND post_id = $2 AND parent_id IS NULL AND deleted_at IS NULL RETURNING true",
                    comment.parent_id,
                    comment.post_id,
                ):
                    raise _Gone
                if not await conn.fetchval(
                    "UPDATE posts SET comment_count = comment_count + 1 "
                    "WHERE id = $1 AND deleted_at IS NULL RETURNING true",
                    comment.post_id,
                ):
                    raise _Gone
                comment_id: int = await conn.fetchval(
                    "INSERT INTO comments (post_id, author_id, parent_id, body) "
                    "VALUES ($1, $2, $3, $4) RETURNING id",
                    comment.post_id,
                    comment.author_id,
                    comment.parent_id,
                    comment.body,
                )
                payload = {**event.payload, "commentId": comment_id}
                await record_events(
                    conn, [replace(event, aggregate_id=comment_id, payload=payload)]
                )
                row = await conn.fetchrow(_BY_IDS, [comment_id])
        except _Gone:
            return None
        assert row is not None
        return _comment(row)

    async def delete(self, comment: Comment, *, event: DomainEvent) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if comment.parent_id is not None:
                await conn.execute(
                    "SELECT 1 FROM comments WHERE id = $1 FOR UPDATE", comment.parent_id
                )
            if not await conn.fetchval(
                "UPDATE comments SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL "
                "RETURNING true",
                comment.id,
            ):
                return False
            replies: int = 0
            if comment.parent_id is not None:
                await conn.execute(
                    "UPDATE comments SET reply_count = reply_count - 1 WHERE id = $1",
                    comment.parent_id,
                )
            else:  # its replies go with it
                replies = await conn.fetchval(_DELETE_REPLIES, comment.id)
                await conn.execute("UPDATE comments SET reply_count = 0 WHERE id = $1", comment.id)
            await conn.execute(
                "UPDATE posts SET comment_count = comment_count - $2 WHERE id = $1",
                comment.post_id,
                1 + replies,
            )
            payload = {**event.payload, "repliesDeleted": replies}
            await record_events(conn, [replace(event, payload=payload)])
        return True

    async def get_many(self, comment_ids: Sequence[int]) -> dict[int, Comment]:
        rows = await self._pool.fetch(_BY_IDS, list(comment_ids))
        return {row["id"]: _comment(row) for row in rows}

    async def by_post(
        self,
        viewer_id: int | None,
        post_id: int,
        order: CommentOrder,
        after: Key | None,
        size: int,
    ) -> CommentThread:
        query = _NEWEST if order is CommentOrder.NEWEST else _OLDEST
        rows = await self._pool.fetch(
            query, viewer_id, post_id, after[0] if after else None, size + 1
        )
        return CommentThread(
            page=Page.from_rows([((row["id"],), _comment(row)) for row in rows], size),
            authors={
                row["author_id"]: standing_from_row(row, row["author_id"], viewer_id, "author_")
                for row in rows
                if row["author_key"] is not None
            },
            viewer_liked=frozenset(row["id"] for row in rows if row["viewer_liked"]),
        )

    async def replies(self, parent_id: int, after: Key | None, size: int) -> Page[Comment]:
        rows = await self._pool.fetch(_REPLIES, parent_id, after[0] if after else None, size + 1)
        return Page.from_rows([((row["id"],), _comment(row)) for row in rows], size)

    async def like(self, user_id: int, comment_id: int, *, event: DomainEvent) -> int | None:
        async with self._pool.acquire() as conn, conn.transaction():
            added = await conn.fetchval(
                "INSERT INTO comment_likes (comment_id, user_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING RETURNING true",
                comment_id,
                user_id,
            )
            if not added:
                count: int | None = await conn.fetchval(
                    "SELECT like_count FROM comments WHERE id = $1", comment_id
                )
                return count
            # The row lock on the comment serialises concurrent likes: the count stays exact.
            count = await conn.fetchval(
                "UPDATE comments SET like_count = like_count + 1 WHERE id = $1 "
                "RETURNING like_count",
                comment_id,
            )
            await record_events(conn, [event])
            return count

    async def unlike(self, user_id: int, comment_id: int, *, event: DomainEvent) -> int | None:
        async with self._pool.acquire() as conn, conn.transaction():
            removed = await conn.fetchval(
                "DELETE FROM comment_likes WHERE comment_id = $1 AND user_id = $2 RETURNING true",
                comment_id,
                user_id,
            )
            if not removed:
                count: int | None = await conn.fetchval(
                    "SELECT like_count FROM comments WHERE id = $1", comment_id
                )
                return count
            count = await conn.fetchval(
                "UPDATE comments SET like_count = like_count - 1 WHERE id = $1 "
                "RETURNING like_count",
                comment_id,
            )
            await record_events(conn, [event])
            return count

    async def liked(self, user_id: int, comment_ids: Sequence[int]) -> set[int]:
        rows = await self._pool.fetch(
            "SELECT comment_id FROM comment_likes "
            "WHERE user_id = $1 AND comment_id = ANY($2::bigint[])",
            user_id,
            list(comment_ids),
        )
        return {row["comment_id"] for row in rows}
