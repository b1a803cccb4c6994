"""Notifications in PostgreSQL: grouped writes with the handled-event marker in one
transaction, the keyset list, the resume read, unread counts, marking read, settings.

A write locks the group's open row (if any) and reads when the actor last joined a
group of the key, lets the domain's `merge` decide, and writes: an update of the open
row (`id = DEFAULT` re-keys it, so a bumped group sorts first and an `id > cursor`
resume sees it) or an insert. Two events racing to start the same group meet in the
insert's ON CONFLICT on the open-group index, which merges the second into the first.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.adapters.postgres.outbox import Conn
from fowergram.domain.notifications.grouping import MAX_ACTORS, Merge, OpenGroup
from fowergram.domain.notifications.model import Notification, NotificationKind
from fowergram.domain.notifications.rules import Intent
from fowergram.domain.pagination import Key, Page

_COLUMNS = (
    "id, recipient_id, kind, group_key, actor_ids, actor_count, post_id, comment_id, "
    "created_at, updated_at, read_at"
)
_KINDS = {kind.value: kind for kind in NotificationKind}

# The group's open row, locked (if any), and when the actor last joined a group of the key
# ($1 recipient, $2 key, $3 actor): each for a row of `source`, read after it.
_OPEN_AND_JOINED_AFTER = """
SELECT o.id, o.actor_ids, o.actor_count, o.created_at, j.group_created_at AS joined_at
FROM {source} AS source
LEFT JOIN LATERAL (
    SELECT id, actor_ids, actor_count, created_at FROM notifications
    WHERE recipient_id = $1 AND group_key = $2 AND read_at IS NULL AND source.go FOR UPDATE
) AS o ON true
LEFT JOIN LATERAL (
    SELECT group_created_at FROM notification_group_actors
    WHERE recipient_id = $1 AND group_key = $2 AND actor_id = $3 AND source.go
) AS j ON true
"""
_OPEN_AND_JOINED = _OPEN_AND_JOINED_AFTER.format(source="(SELECT true AS go)")
# The same, first marking the event handled by the consumer ($4, $5): no row when it was
# already (a re-delivery), and then nothing is read or locked. The reads name the marker
# so they run after it, as separate statements did (one round trip fewer per event).
_MARK_HANDLED = (
    "INSERT INTO handled_events (consumer, event_id) VALUES ({consumer}, {event}) "
    "ON CONFLICT DO NOTHING RETURNING true AS go"
)
_MARK_HANDLED_THEN_OPEN = (
    "WITH marked AS (" + _MARK_HANDLED.format(consumer="$4", event="$5") + ")"
    + _OPEN_AND_JOINED_AFTER.format(source="marked")
)  # fmt: skip
_MARK_HANDLED_ONLY = _MARK_HANDLED.format(consumer="$1", event="$2")
# The actor joins the group just written ($1 recipient, $3 key, $4 actor), in the same
# statement as the write.
_JOIN = """
, joined AS (
    INSERT INTO notification_group_actors (recipient_id, group_key, actor_id, group_created_at)
    SELECT $1, $3, $4::bigint, created_at FROM written
    ON CONFLICT (recipient_id, group_key, actor_id)
    DO UPDATE SET group_created_at = EXCLUDED.group_created_at, seen_at = now()
)
SELECT * FROM written
"""
# Nothing about a deleted post or comment, nor for a deleted recipient ($1 user, $5 post,
# $6 comment, each may be NULL).
_LIVE = """
EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL)
AND ($5::bigint IS NULL OR EXISTS (SELECT 1 FROM posts p WHERE p.id = $5 AND p.deleted_at IS NULL))
AND ($6::bigint IS NULL
     OR EXISTS (SELECT 1 FROM comments c WHERE c.id = $6 AND c.deleted_at IS NULL))
"""
_START = (
    """
WITH written AS (
INSERT INTO notifications (recipient_id, kind, group_key, actor_ids, actor_count, post_id,
                           comment_id)
SELECT $1, $2, $3, ARRAY[$4::bigint], 1, $5, $6 WHERE """
    + _LIVE
    + """
ON CONFLICT (recipient_id, group_key) WHERE read_at IS NULL DO UPDATE SET
    id = DEFAULT,
    actor_ids = (ARRAY[$4::bigint] || array_remove(notifications.actor_ids, $4::bigint))[1:$7],
    actor_count = notifications.actor_count
        + CASE WHEN $4::bigint = ANY (notifications.actor_ids) THEN 0 ELSE 1 END,
    post_id = coalesce(EXCLUDED.post_id, notifications.post_id),
    comment_id = coalesce(EXCLUDED.comment_id, notifications.comment_id)
RETURNING """
    + _COLUMNS
    + ")"
    + _JOIN
)
# $2 the group's id, $7 its actors, $8 their count; the rest as in _START.
_BUMP = (
    """
WITH written AS (
UPDATE notifications SET id = DEFAULT, actor_ids = $7::bigint[], actor_count = $8,
    post_id = coalesce($5::bigint, post_id), comment_id = coalesce($6::bigint, comment_id)
WHERE id = $2 AND recipient_id = $1 AND $3::text = group_key AND """
    + _LIVE
    + " RETURNING "
    + _COLUMNS
    + ")"
    + _JOIN
)
_SELECT = (
    "SELECT id, recipient_id, kind, group_key, actor_ids, actor_count, post_id, comment_id, "
    "created_at, updated_at, read_at FROM notifications WHERE recipient_id = $1 "
)
_PAGE = _SELECT + "AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
_SINCE = _SELECT + "AND id > $2 ORDER BY id LIMIT $3"
_UNREAD = "SELECT count(*) FROM notifications WHERE recipient_id = $1 AND read_at IS NULL"
# The count comes from the statement's snapshot (before the update): minus what it marked.
_MARK_READ = """
WITH marked AS (
    UPDATE notifications SET read_at = now()
    WHERE recipient_id = $1 AND read_at IS NULL AND ($2::bigint IS NULL OR id <= $2)
    RETURNING 1
)
SELECT (SELECT count(*) FROM notifications WHERE recipient_id = $1 AND read_at IS NULL)
     - (SELECT count(*) FROM marked)
"""
_SETTINGS = (
    "SELECT user_id, disabled_kinds FROM notification_settings WHERE user_id = ANY($1::bigint[])"
)
# $2: kinds to turn on, $3: kinds to turn off; one statement, so concurrent updates of
# different kinds both hold.
_UPDATE_SETTINGS = """
INSERT INTO notification_settings (user_id, disabled_kinds)
VALUES ($1, ARRAY(SELECT DISTINCT k FROM unnest($3::text[]) AS k ORDER BY k))
ON CONFLICT (user_id) DO UPDATE SET disabled_kinds = ARRAY(
    SELECT DISTINCT k FROM unnest(notification_settings.disabled_kinds || $3::text[]) AS k
    WHERE k <> ALL ($2::text[]) ORDER BY k)
RETURNING disabled_kinds
"""


def _notification(row: asyncpg.Record) -> Notification:
    return Notification(
        id=row["id"],
        recipient_id=row["recipient_id"],
        kind=NotificationKind(row["kind"]),
        group_key=row["group_key"],
        actor_ids=tuple(row["actor_ids"]),
        actor_count=row["actor_count"],
        post_id=row["post_id"],
        comment_id=row["comment_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        read_at=row["read_at"],
    )


def turned_off(values: Sequence[str]) -> frozenset[NotificationKind]:
    """The kinds named in a `disabled_kinds` column; kinds the schema allows but this code
    does not make yet (message, ...) are skipped."""
    return frozenset(_KINDS[value] for value in values if value in _KINDS)


def _open_group(row: asyncpg.Record) -> OpenGroup | None:
    if row["id"] is None:
        return None
    return OpenGroup(row["id"], tuple(row["actor_ids"]), row["actor_count"], row["created_at"])


async def _write(
    conn: Conn, intent: Intent, merge: Merge, opened: asyncpg.Record
) -> asyncpg.Record | None:
    """Write `intent` into its group as `merge` decides, given the group's open row and
    the actor's joining as `_OPEN_AND_JOINED` read them."""
    recipient, key, actor = intent.recipient_id, intent.group_key, intent.actor_id
    change = merge(intent, _open_group(opened), opened["joined_at"])
    if change is None:
        return None
    content = (intent.post_id, intent.comment_id)
    if change.group_id is None:
        return await conn.fetchrow(
            _START, recipient, intent.kind.value, key, actor, *content, MAX_ACTORS
        )
    return await conn.fetchrow(
        _BUMP, recipient, change.group_id, key, actor, *content,
        list(change.actor_ids), change.actor_count,
    )  # fmt: skip


class PostgresNotifications:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(
        self, consumer: str, event_id: int, intents: Sequence[Intent], merge: Merge
    ) -> list[Notification] | None:
        # One intent per group, groups locked in a fixed order (no deadlock between events).
        unique = {(i.recipient_id, i.group_key): i for i in reversed(intents)}
        ordered = [unique[key] for key in sorted(unique)]
        if not ordered:
            marked = await self._pool.fetchval(_MARK_HANDLED_ONLY, consumer, event_id)
            return [] if marked else None
        first = ordered[0]
        async with self._pool.acquire() as conn, conn.transaction():
            opened = await conn.fetchrow(
                _MARK_HANDLED_THEN_OPEN,
                first.recipient_id, first.group_key, first.actor_id, consumer, event_id,
            )  # fmt: skip
            if opened is None:
                return None  # a re-delivery: the first delivery's effects stand
            written = [await _write(conn, first, merge, opened)]
            for intent in ordered[1:]:
                opened = await conn.fetchrow(
                    _OPEN_AND_JOINED, intent.recipient_id, intent.group_key, intent.actor_id
                )
                assert opened is not None  # one row always, NULLs where nothing was found
                written.append(await _write(conn, intent, merge, opened))
        return [_notification(row) for row in written if row is not None]

    async def page(self, recipient_id: int, after: Key | None, size: int) -> Page[Notification]:
        rows = await self._pool.fetch(_PAGE, recipient_id, after[0] if after else None, size + 1)
        return Page.from_rows([((row["id"],), _notification(row)) for row in rows], size)

    async def since(self, recipient_id: int, after_id: int, limit: int) -> list[Notification]:
        rows = await self._pool.fetch(_SINCE, recipient_id, after_id, limit)
        return [_notification(row) for row in rows]

    async def unread_count(self, recipient_id: int) -> int:
        count: int = await self._pool.fetchval(_UNREAD, recipient_id)
        return count

    async def mark_read(self, recipient_id: int, up_to: int | None) -> int:
        count: int = await self._pool.fetchval(_MARK_READ, recipient_id, up_to)
        return count

    async def disabled_kinds(
        self, user_ids: Sequence[int]
    ) -> dict[int, frozenset[NotificationKind]]:
        rows = await self._pool.fetch(_SETTINGS, list(user_ids))
        return {row["user_id"]: turned_off(row["disabled_kinds"]) for row in rows}

    async def update_settings(
        self,
        user_id: int,
        enable: frozenset[NotificationKind],
        disable: frozenset[NotificationKind],
    ) -> frozenset[NotificationKind]:
        disabled: list[str] = await self._pool.fetchval(
            _UPDATE_SETTINGS,
            user_id,
            sorted(kind.value for kind in enable),
            sorted(kind.value for kind in disable),
        )
        return turned_off(disabled)

    async def pruned_through(self) -> int:
        value: int | None = await self._pool.fetchval(
            "SELECT pruned_through FROM notification_retention"
        )
        return value or 0
