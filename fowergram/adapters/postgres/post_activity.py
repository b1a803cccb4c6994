"""What a post's live activity message shows: the post's counts now and, for a new
comment, the comment with its author's username, all in one round trip."""

from __future__ import annotations

import asyncpg

from fowergram.domain.social.post_activity import ActivityComment, PostState

# A post whose author's account is deleted is gone too (nobody may see it). The comment
# must belong to this post, be live and have a live author; with $2 NULL it matches none.
_POST_STATE = """
SELECT p.like_count, p.comment_count,
       c.id AS comment_id, c.body, c.parent_id, c.created_at, c.author_id, cu.username
FROM posts p
JOIN users pu ON pu.id = p.author_id AND pu.deleted_at IS NULL
LEFT JOIN (comments c JOIN users cu ON cu.id = c.author_id AND cu.deleted_at IS NULL)
       ON c.id = $2::bigint AND c.post_id = p.id AND c.deleted_at IS NULL
WHERE p.id = $1 AND p.deleted_at IS NULL
"""


class PostgresPostActivity:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def post_state(self, post_id: int, comment_id: int | None) -> PostState | None:
        row = await self._pool.fetchrow(_POST_STATE, post_id, comment_id)
        if row is None:
            return None
        comment = None
        if row["comment_id"] is not None:
            comment = ActivityComment(
                id=row["comment_id"],
                body=row["body"],
                parent_id=row["parent_id"],
                created_at=row["created_at"],
                author_id=row["author_id"],
                author_username=row["username"],
            )
        return PostState(post_id, row["like_count"], row["comment_count"], comment)
