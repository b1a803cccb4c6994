"""What a post's live activity message shows: the post's counts now and, for a new
comment, the comment with its author's username. The reads of one turn of the event loop
(the consumer handles a batch's posts at once) are one statement."""

from __future__ import annotations

import asyncpg

from fowergram.adapters.postgres.batch_faults import one_statement_per_turn
from fowergram.adapters.postgres.batch_rows import row_per_ask
from fowergram.domain.social.post_activity import ActivityComment, PostState

# A post whose author's account is deleted is gone too (nobody may see it). The comment
# must belong to its post, be live and have a live author; a NULL comment id matches none.
# $1 the posts, $2 the comments, pairwise: a row for each pair whose post is there.
_POST_STATES = """
SELECT q.ord, p.like_count, p.comment_count,
       c.id AS comment_id, c.body, c.parent_id, c.created_at, c.author_id, cu.username
FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS q (post_id, comment_id, ord)
JOIN posts p ON p.id = q.post_id AND p.deleted_at IS NULL
JOIN users pu ON pu.id = p.author_id AND pu.deleted_at IS NULL
LEFT JOIN (comments c JOIN users cu ON cu.id = c.author_id AND cu.deleted_at IS NULL)
       ON c.id = q.comment_id AND c.post_id = p.id AND c.deleted_at IS NULL
"""

Asked = tuple[int, int | None]  # a post, and the new comment to show with it


class PostgresPostActivity:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._reading = one_statement_per_turn(self._read)

    async def post_state(self, post_id: int, comment_id: int | None) -> PostState | None:
        return await self._reading((post_id, comment_id))

    async def _read(self, asked: list[Asked]) -> list[PostState | None]:
        rows = await self._pool.fetch(
            _POST_STATES, [post for post, _ in asked], [comment for _, comment in asked]
        )
        return [
            _state(post_id, row)
            for row, (post_id, _) in zip(row_per_ask(rows, len(asked)), asked, strict=True)
        ]


def _state(post_id: int, row: asyncpg.Record | None) -> PostState | None:
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
