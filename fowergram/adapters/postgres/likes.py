"""Post likes: the row, the counter and the event in one transaction, only on a change."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.adapters.postgres.outbox import record_events
from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page

_LIKERS = (
    "SELECT user_id, (extract(epoch FROM created_at) * 1000000)::bigint AS liked_us "
    "FROM post_likes WHERE post_id = $1 AND ($2::bigint IS NULL "
    "OR (created_at, user_id) < (to_timestamp($2 / 1000000.0), $3)) "
    "ORDER BY created_at DESC, user_id DESC LIMIT $4"
)


class PostgresLikes:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def like(self, user_id: int, post_id: int, *, event: DomainEvent) -> int | None:
        async with self._pool.acquire() as conn, conn.transaction():
            added = await conn.fetchval(
                "INSERT INTO post_likes (post_id, user_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING RETURNING true",
                post_id,
                user_id,
            )
            if not added:
                count: int | None = await conn.fetchval(
                    "SELECT like_count FROM posts WHERE id = $1", post_id
                )
                return count
            # The row lock on the post serialises concurrent likes: the count stays exact.
            count = await conn.fetchval(
                "UPDATE posts SET like_count = like_count + 1 WHERE id = $1 RETURNING like_count",
                post_id,
            )
            await record_events(conn, [event])
            return count

    async def unlike(self, user_id: int, post_id: int, *, event: DomainEvent) -> int | None:
        async with self._pool.acquire() as conn, conn.transaction():
            removed = await conn.fetchval(
                "DELETE FROM post_likes WHERE post_id = $1 AND user_id = $2 RETURNING true",
                post_id,
                user_id,
            )
            if not removed:
                count: int | None = await conn.fetchval(
                    "SELECT like_count FROM posts WHERE id = $1", post_id
                )
                return count
            count = await conn.fetchval(
                "UPDATE posts SET like_count = like_count - 1 WHERE id = $1 RETURNING like_count",
                post_id,
            )
            await record_events(conn, [event])
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
