"""The social graph in PostgreSQL: follow, block and mute rows, the follower and following
counters kept in the same transaction, the outbox, and the keyset-paginated lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from fowergram.adapters.postgres.outbox import record_events
from fowergram.adapters.postgres.profile_rows import PROFILE_COLUMNS, profile_from
from fowergram.domain.pagination import Key
from fowergram.domain.social.graph import PairState, Transition
from fowergram.domain.social.graph_service import Rule
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import Owner, Relationship

Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Both people, locked in id order (no deadlock between A→B and B→A). NO KEY UPDATE, the
# lock an UPDATE of the counters takes anyway, does not block foreign-key checks.
_LOCK = """
SELECT id, is_private, following_count, deleted_at IS NOT NULL AS deleted
FROM users WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE
"""

# A separate statement after the lock, so it reads what the lock holder committed.
_PAIR = """
SELECT (SELECT status FROM follows WHERE follower_id = $1 AND followee_id = $2) AS outgoing,
       (SELECT status FROM follows WHERE follower_id = $2 AND followee_id = $1) AS incoming,
       EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2) AS blocking,
       EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $2 AND blocked_id = $1) AS blocked_by,
       EXISTS (SELECT 1 FROM mutes WHERE muter_id = $1 AND muted_id = $2) AS muting
"""

# Returns the status before the statement (NULL: there was no row), from the same snapshot.
_UPSERT_FOLLOW = """
WITH previous AS (
    SELECT status FROM follows WHERE follower_id = $1 AND followee_id = $2
), written AS (
    INSERT INTO follows (follower_id, followee_id, status, accepted_at)
    VALUES ($1, $2, $3, CASE WHEN $3 = 'accepted' THEN now() END)
    ON CONFLICT (follower_id, followee_id)
    DO UPDATE SET status = EXCLUDED.status, accepted_at = EXCLUDED.accepted_at
    RETURNING 1
)
SELECT (SELECT status FROM previous) FROM written
"""

_COUNTERS = """
UPDATE users AS u
SET following_count = u.following_count + d.following,
    followers_count = u.followers_count + d.followers
FROM unnest($1::bigint[], $2::int[], $3::int[]) AS d(id, following, followers)
WHERE u.id = d.id
"""


def _list_query(owner: str, other: str, status: str, *, after: bool) -> str:
    # Newest first, in the order of the composite indexes of 0007 (created_at DESC, id):
    # keyset pagination with no OFFSET; `created_at <= $2` bounds the index scan.
    cursor = f"AND f.created_at <= $2 AND (f.created_at < $2 OR f.{other} > $3) " if after else ""
    limit = "$4" if after else "$2"
    return (
        f"SELECT f.created_at AS listed_at, {PROFILE_COLUMNS} FROM follows f "  # noqa: S608
        f"JOIN users u ON u.id = f.{other} "
        f"WHERE f.{owner} = $1 AND f.status = '{status}' {cursor}"
        f"ORDER BY f.created_at DESC, f.{other} LIMIT {limit}"
    )  # column names and status are ours, never the client's


def _status(active: bool, pending: bool) -> str | None:
    return "accepted" if active else "pending" if pending else None


def _to_key(at: datetime, user_id: int) -> Key:
    return ((at - _EPOCH) // _MICROSECOND, user_id)


class PostgresGraph:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def change(self, actor_id: int, target_id: int, rule: Rule) -> Transition:
        async with self._pool.acquire() as conn, conn.transaction():
            state = await self._state(conn, actor_id, target_id)
            transition = rule(state)
            if transition.events:
                await self._write(conn, actor_id, target_id, state.relationship, transition.after)
                await record_events(conn, transition.events)
            return transition

    @staticmethod
    async def _state(conn: Conn, actor_id: int, target_id: int) -> PairState:
        people = {row["id"]: row for row in await conn.fetch(_LOCK, [actor_id, target_id])}
        pair = await conn.fetchrow(_PAIR, actor_id, target_id)
        assert pair is not None
        target = people.get(target_id)
        actor = people.get(actor_id)
        return PairState(
            actor_id=actor_id,
            actor_following_count=actor["following_count"] if actor else 0,
            target=Owner(target_id, target["is_private"], target["deleted"]) if target else None,
            relationship=Relationship(
                following=pair["outgoing"] == "accepted",
                followed_by=pair["incoming"] == "accepted",
                requested=pair["outgoing"] == "pending",
                requested_by=pair["incoming"] == "pending",
                blocking=pair["blocking"],
                blocked_by=pair["blocked_by"],
                muting=pair["muting"],
            ),
        )

    async def _write(
        self,
        conn: Conn,
        actor_id: int,
        target_id: int,
        before: Relationship,
        after: Relationship,
    ) -> None:
        if before.blocked_by != after.blocked_by:
            raise ValueError("a rule cannot change the other person's block")
        following = {actor_id: 0, target_id: 0}
        followers = {actor_id: 0, target_id: 0}
        for follower, followee, old, new in (
            (
                actor_id,
                target_id,
                _status(before.following, before.requested),
                _status(after.following, after.requested),
            ),
            (
                target_id,
                actor_id,
                _status(before.followed_by, before.requested_by),
                _status(after.followed_by, after.requested_by),
            ),
        ):
            delta = await self._set_follow(conn, follower, followee, old, new)
            following[follower] += delta
            followers[followee] += delta
        if any(following.values()) or any(followers.values()):
            ids = [actor_id, target_id]
            await conn.execute(
                _COUNTERS, ids, [following[i] for i in ids], [followers[i] for i in ids]
            )
        await self._set_row(
            conn,
            "blocks",
            "blocker_id",
            "blocked_id",
            actor_id,
            target_id,
            before.blocking,
            after.blocking,
        )
        await self._set_row(
            conn, "mutes", "muter_id", "muted_id", actor_id, target_id, before.muting, after.muting
        )

    @staticmethod
    async def _set_follow(
        conn: Conn, follower: int, followee: int, old: str | None, new: str | None
    ) -> int:
        """Move one follow row from `old` to `new`; the change in accepted follows (-1, 0, 1),
        taken from what the statement did, so counters follow the rows whatever happens."""
        if old == new:
            return 0
        if new is None:
            gone = await conn.fetchval(
                "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2 RETURNING status",
                follower,
                followee,
            )
            return -1 if gone == "accepted" else 0
        previous = await conn.fetchval(_UPSERT_FOLLOW, follower, followee, new)
        return int(new == "accepted") - int(previous == "accepted")

    @staticmethod
    async def _set_row(
        conn: Conn,
        table: str,
        actor_column: str,
        target_column: str,
        actor_id: int,
        target_id: int,
        before: bool,
        after: bool,
    ) -> None:
        if before == after:
            return
        if after:
            await conn.execute(
                f"INSERT INTO {table} ({actor_column}, {target_column}) VALUES ($1, $2) "  # noqa: S608
                "ON CONFLICT DO NOTHING",
                actor_id,
                target_id,
            )
        else:
            await conn.execute(
                f"DELETE FROM {table} WHERE {actor_column} = $1 AND {target_column} = $2",  # noqa: S608
                actor_id,
                target_id,
            )

    async def followers(
        self, user_id: int, limit: int, after: Key | None
    ) -> Sequence[tuple[Key, Profile]]:
        return await self._list("followee_id", "follower_id", "accepted", user_id, limit, after)

    async def following(
        self, user_id: int, limit: int, after: Key | None
    ) -> Sequence[tuple[Key, Profile]]:
        return await self._list("follower_id", "followee_id", "accepted", user_id, limit, after)

    async def requests(
        self, user_id: int, limit: int, after: Key | None
    ) -> Sequence[tuple[Key, Profile]]:
        return await self._list("followee_id", "follower_id", "pending", user_id, limit, after)

    async def _list(
        self, owner: str, other: str, status: str, user_id: int, limit: int, after: Key | None
    ) -> Sequence[tuple[Key, Profile]]:
        if after is None:
            rows = await self._pool.fetch(
                _list_query(owner, other, status, after=False), user_id, limit
            )
        else:
            at = _EPOCH + after[0] * _MICROSECOND
            rows = await self._pool.fetch(
                _list_query(owner, other, status, after=True), user_id, at, after[1], limit
            )
        return [(_to_key(row["listed_at"], row["id"]), profile_from(row)) for row in rows]
