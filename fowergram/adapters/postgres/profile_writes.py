"""Writing one's own profile, with its event; going public accepts waiting follow requests."""

from __future__ import annotations

import asyncpg

from fowergram.adapters.postgres.outbox import record_events
from fowergram.adapters.postgres.profile_rows import profile_from
from fowergram.domain.events import DomainEvent
from fowergram.domain.social.profile_update import ProfileChanges
from fowergram.domain.social.profiles import Profile

Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# the only ones an edit may set
_COLUMNS = ("full_name", "bio", "website", "is_private", "show_activity_status")
_PROFILE = (
    "id, username, full_name, bio, website, avatar_media_id, is_private, "
    "followers_count, following_count, posts_count, created_at, deleted_at IS NOT NULL AS deleted"
)


class PostgresProfileWriter:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def update(
        self, user_id: int, changes: ProfileChanges, event: DomainEvent
    ) -> Profile | None:
        columns = [column for column in _COLUMNS if column in changes.fields]
        if not columns:  # nothing to change, nothing to record
            row = await self._pool.fetchrow(
                f"SELECT {_PROFILE} FROM users WHERE id = $1 AND deleted_at IS NULL",  # noqa: S608
                user_id,
            )
            return profile_from(row) if row else None
        async with self._pool.acquire() as conn, conn.transaction():
            events = [event]
            if changes.fields.get("is_private") is False:
                events += await self._accept_requests(conn, user_id)
            assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(columns, 2))
            row = await conn.fetchrow(
                f"UPDATE users SET {assignments} "  # noqa: S608  (fixed column names)
                f"WHERE id = $1 AND deleted_at IS NULL RETURNING {_PROFILE}",
                user_id,
                *(changes.fields[column] for column in columns),
            )
            if row is None:
                return None
            await record_events(conn, events)
            return profile_from(row)

    @staticmethod
    async def _accept_requests(conn: Conn, user_id: int) -> list[DomainEvent]:
        """A private account going public: its pending requests become follows, as if
        approved (counters and one `follow.accepted` each)."""
        waiting = await conn.fetch(
            "SELECT follower_id FROM follows WHERE followee_id = $1 AND status = 'pending'",
            user_id,
        )
        requesters = [row["follower_id"] for row in waiting]
        # Everyone whose counters change, locked in id order like every graph write.
        locked = await conn.fetch(
            "SELECT id, is_private FROM users WHERE id = ANY($1::bigint[]) "
            "ORDER BY id FOR NO KEY UPDATE",
            [user_id, *requesters],
        )
        was_private = any(row["id"] == user_id and row["is_private"] for row in locked)
        if not was_private or not requesters:
            return []
        accepted = await conn.fetch(
            "UPDATE follows SET status = 'accepted', accepted_at = now() "
            "WHERE followee_id = $1 AND status = 'pending' AND follower_id = ANY($2::bigint[]) "
            "RETURNING follower_id",
            user_id,
            requesters,
        )
        followers = [row["follower_id"] for row in accepted]
        if not followers:
            return []
        await conn.execute(
            "UPDATE users SET following_count = following_count + 1 WHERE id = ANY($1::bigint[])",
            followers,
        )
        await conn.execute(
            "UPDATE users SET followers_count = followers_count + $2 WHERE id = $1",
            user_id,
            len(followers),
        )
        return [
            DomainEvent("follow.accepted", follower, {"actorId": user_id, "targetId": follower})
            for follower in followers
        ]
