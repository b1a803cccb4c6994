"""Post likes: the row, the counter and the event in one transaction, only on a change."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page

_LIKERS = (
    "SELECT user_id, (extract(epoch FROM created_at) * 1000000)::bigint AS liked_us "
    "FROM post_likes WHERE post_id = $1 AND ($2::bigint IS NULL "
    "OR (created_at, user_id) < (to_timestamp($2 / 1000000.0), $3)) "
    "ORDER BY created_at DESC, user_id DESC LIMIT $4"
)


# One statement each, so one round trip: the row, the counter and the outbox event change
# together or not at all (a statement is atomic), and only when the row did. The post's
# row lock orders concurrent likes, so the counter stays equal to the rows.
_LIKE = """
WITH added AS (
    INSERT INTO post_likes (post_id, user_id) VALUES ($1, $2)
    ON CONFLICT DO NOTHING RETURNING post_id
), counted AS (
    UPDATE posts SET like_count = like_count + 1
    WHERE id = $1 AND EXISTS (SELECT 1 FROM added) RETURNING like_count
), recorded AS (
    INSERT INTO outbox (kind, aggregate_id, payload) SELECT $3, $1, $4::jsonb FROM added
)
SELECT coalesce((SELECT like_count FROM counted), (SELECT like_count FROM posts WHERE id = $1))
"""
_UNLIKE = """
WITH removed AS (
    DELETE FROM post_likes WHERE post_id = $1 AND user_id = $2 RETURNING post_id
), counted AS (
    UPDATE posts SET like_count = like_count - 1
    WHERE id = $1 AND EXISTS (SELECT 1 FROM removed) RETURNING like_count
), recorded AS (
    INSERT INTO outbox (kind, aggregate_id, payload) SELECT $3, $1, $4::jsonb FROM removed
)
SELECT coalesce((SELECT like_count FROM counted), (SELECT like_count FROM posts WHERE id = $1))
"""


class PostgresLikes:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def like(self, user_id: int, post_id: int, *, event: DomainEvent) -> int | None:
        count: int | None = await self._pool.fetchval(
            _LIKE, post_id, user_id, event.kind, event.payload
        )
        return count

    async def unlike(self, user_id: int, post_id: int, *, event: DomainEvent) -> int | None:
        count: int | None = await self._pool.fetchval(
            _UNLIKE, post_id, user_id, event.kind, event.payload
        )
        return count

    async def liked(self, user_id: int, post_ids: Sequence[int]) -> set[int]:
        rows = await self._pool.fetch(
            "SELECT post_id FROM post_likes WHERE user_id = $1 AND post_id = ANY($2::bigint[])",
            user_id,
            list(post_ids),
        )
        return {row["post_id"] for row in rows}

    async def likers(self, post_id: int, after: Key | None, size: int) -> Page[int]:
        liked_us, user_id = after if after else (None, None)
        rows = await self._pool.fetch(_LIKERS, post_id, liked_us, user_id, size + 1)
        return Page.from_rows(
            [((row["liked_us"], row["user_id"]), row["user_id"]) for row in rows], size
        )
