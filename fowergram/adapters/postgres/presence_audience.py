"""What presence visibility needs, in one round trip: each person's "show activity status",
the viewer's own, and the follows and blocks between them."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.domain.presence import PresenceSubject
from fowergram.domain.presence_service import AudienceFacts
from fowergram.domain.social.relationship import NONE, Relationship

# The viewer's own setting is an uncorrelated subquery: computed once, not per row.
_FACTS = """
SELECT u.id, u.show_activity_status AS shares, u.deleted_at IS NOT NULL AS deleted,
       (SELECT v.show_activity_status FROM users v
        WHERE v.id = $1 AND v.deleted_at IS NULL) AS viewer_shares,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = u.id
               AND f.status = 'accepted') AS following,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = u.id AND f.followee_id = $1
               AND f.status = 'accepted') AS followed_by,
       EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $1 AND b.blocked_id = u.id)
           AS blocking,
       EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = u.id AND b.blocked_id = $1)
           AS blocked_by
FROM users u WHERE u.id = ANY($2::bigint[])
"""


class PostgresPresenceAudience:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def facts(self, viewer_id: int, user_ids: Sequence[int]) -> AudienceFacts:
        rows = await self._pool.fetch(_FACTS, viewer_id, sorted(set(user_ids)))
        subjects = {
            row["id"]: PresenceSubject(
                user_id=row["id"],
                shares=row["shares"],
                deleted=row["deleted"],
                relationship=NONE
                if row["id"] == viewer_id
                else Relationship(
                    following=row["following"],
                    followed_by=row["followed_by"],
                    blocking=row["blocking"],
                    blocked_by=row["blocked_by"],
                ),
            )
            for row in rows
        }
        viewer_shares = bool(rows[0]["viewer_shares"]) if rows else False
        return AudienceFacts(viewer_shares=viewer_shares, subjects=subjects)

    async def shows_activity_status(self, user_id: int) -> bool | None:
        value = await self._pool.fetchval(
            "SELECT show_activity_status FROM users WHERE id = $1 AND deleted_at IS NULL",
            user_id,
        )
        return None if value is None else bool(value)
