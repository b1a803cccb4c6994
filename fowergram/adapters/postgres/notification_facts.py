"""What the notification rules need to know beyond an event: a comment's author, and whom
a post's caption mentions (as stored in `post_mentions` when it was written)."""

from __future__ import annotations

import asyncpg

_COMMENT_AUTHOR = "SELECT author_id FROM comments WHERE id = $1 AND deleted_at IS NULL"
_MENTIONED = """
SELECT m.user_id FROM post_mentions m
JOIN posts p ON p.id = m.post_id
JOIN users u ON u.id = m.user_id
WHERE m.post_id = $1 AND p.deleted_at IS NULL AND u.deleted_at IS NULL
ORDER BY m.user_id
"""


class PostgresEventFacts:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def comment_author(self, comment_id: int) -> int | None:
        author: int | None = await self._pool.fetchval(_COMMENT_AUTHOR, comment_id)
        return author

    async def mentioned_users(self, post_id: int) -> list[int]:
        return [row["user_id"] for row in await self._pool.fetch(_MENTIONED, post_id)]
