"""Post likes: the row, the counter and the event in one transaction, only on a change;
the likes of one turn of the event loop together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import asyncpg

from fowergram.adapters.postgres.batch_rounds import rounds_per_turn
from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page

_LIKERS = (
    "SELECT user_id, (extract(epoch FROM created_at) * 1000000)::bigint AS liked_us "
    "FROM post_likes WHERE post_id = $1 AND ($2::bigint IS NULL "
    "OR (created_at, user_id) < (to_timestamp($2 / 1000000.0), $3)) "
    "ORDER BY created_at DESC, user_id DESC LIMIT $4"
)


# The likes and unlikes of one turn of the event loop in one statement (one round trip,
# one commit): the rows, the counters and the outbox events change together or not at
# all, and only where a row did. The posts are locked first, in id order, so that
# concurrent statements (other instances) queue on them without deadlocking; the lock
# also orders every change of a post's counter, which stays equal to its rows. It is the
# UPDATE's own lock (NO KEY): inserts referencing the post (saves, notifications) do not
# wait for it. The locking read returns the row as the lock holder left it, so a post
# this statement did not change still answers its count now, not at the statement's
# start. A pair appears once per statement (batch_rounds). $1 posts, $2 users, $3 +1
# like / -1 unlike, $4 the events' kinds, $5 their payloads: pairwise. Each pair's
# post's count after the statement (NULL for a post that is not there).
_CHANGE = """
WITH q AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::jsonb[])
        WITH ORDINALITY AS q (post_id, user_id, delta, kind, payload, ord)
), locked AS MATERIALIZED (
    SELECT id, like_count FROM posts WHERE id IN (SELECT post_id FROM q)
    ORDER BY id FOR NO KEY UPDATE
), added AS (
    INSERT INTO post_likes (post_id, user_id)
    SELECT post_id, user_id FROM q WHERE delta = 1 AND (SELECT count(*) FROM locked) >= 0
    ON CONFLICT DO NOTHING RETURNING post_id, user_id
), removed AS (
    DELETE FROM post_likes l USING q
    WHERE q.delta = -1 AND l.post_id = q.post_id AND l.user_id = q.user_id
      AND (SELECT count(*) FROM locked) >= 0
    RETURNING l.post_id, l.user_id
), changed AS (
    SELECT post_id, user_id FROM added UNION ALL SELECT post_id, user_id FROM removed
), counted AS (
    UPDATE posts p SET like_count = p.like_count + c.total
    FROM (SELECT q.post_id, sum(q.delta) AS total FROM q JOIN changed USING (post_id, user_id)
          GROUP BY q.post_id HAVING sum(q.delta) <> 0) c
    WHERE p.id = c.post_id RETURNING p.id, p.like_count
), recorded AS (
    INSERT INTO outbox (kind, aggregate_id, payload)
    SELECT q.kind, q.post_id, q.payload FROM q JOIN changed USING (post_id, user_id) ORDER BY q.ord
)
SELECT q.ord, coalesce(c.like_count, l.like_count) AS like_count
FROM q LEFT JOIN counted c ON c.id = q.post_id LEFT JOIN locked l ON l.id = q.post_id
"""


class _Change(NamedTuple):
    post_id: int
    user_id: int
    delta: int  # +1 like, -1 unlike
    event: DomainEvent


def _pair(change: _Change) -> tuple[tuple[int, int]]:
    return ((change.post_id, change.user_id),)


class PostgresLikes:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._changes = rounds_per_turn(_pair, self._change)

    async def like(self, user_id: int, post_id: int, *, event: DomainEvent) -> int | None:
        return await self._changes(_Change(post_id, user_id, 1, event))

    async def unlike(self, user_id: int, post_id: int, *, event: DomainEvent) -> int | None:
        return await self._changes(_Change(post_id, user_id, -1, event))

    async def _change(self, changes: list[_Change]) -> list[int | None]:
        rows = await self._pool.fetch(
            _CHANGE,
            [change.post_id for change in changes],
            [change.user_id for change in changes],
            [change.delta for change in changes],
            [change.event.kind for change in changes],
            [change.event.payload for change in changes],
        )
        counts = {row["ord"]: row["like_count"] for row in rows}
        return [counts[ordinal] for ordinal in range(1, len(changes) + 1)]

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
