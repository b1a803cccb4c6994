"""Notifications in PostgreSQL: grouped writes with the handled-event marker in one
transaction (events of one turn together: notification_writes), the keyset list, the
resume read, unread counts, marking read, settings."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.adapters.postgres.batch_rounds import rounds_per_turn
from fowergram.adapters.postgres.notification_writes import (
    COLUMNS,
    Recording,
    Written,
    record_round,
    touched,
)
from fowergram.domain.notifications.grouping import Merge
from fowergram.domain.notifications.model import Notification, NotificationKind
from fowergram.domain.notifications.rules import Intent
from fowergram.domain.pagination import Key, Page

_KINDS = {kind.value: kind for kind in NotificationKind}

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM notifications WHERE recipient_id = $1 "  # noqa: S608
_PAGE = _SELECT + "AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
_SINCE = _SELECT + "AND id > $2 ORDER BY id LIMIT $3"
_UNREAD = "SELECT count(*) FROM notifications WHERE recipient_id = $1 AND read_at IS NULL"
# The count comes from the statement's snapshot (before the update): minus what it marked.
# The rows are locked in group-key order first: the order in which the notifications
# consumer's writes lock one recipient's groups (notification_writes), so that the two
# never wait for each other in opposite orders (a deadlock would fail this mutation).
_MARK_READ = """
WITH locked AS (
    SELECT id FROM notifications
    WHERE recipient_id = $1 AND read_at IS NULL AND ($2::bigint IS NULL OR id <= $2)
    ORDER BY group_key FOR UPDATE
), marked AS (
    UPDATE notifications SET read_at = now() FROM locked
    WHERE notifications.id = locked.id
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


class PostgresNotifications:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # A round is one transaction: when it fails, nothing of it was written.
        self._recording = rounds_per_turn(touched, self._record_round)

    async def record(
        self, consumer: str, event_id: int, intents: Sequence[Intent], merge: Merge
    ) -> list[Notification] | None:
        """Events recorded in the same turn of the event loop share one transaction and
        one statement per step (notification_writes)."""
        rows = await self._recording(Recording.of(consumer, event_id, intents, merge))
        return None if rows is None else [_notification(row) for row in rows]

    async def _record_round(self, calls: list[Recording]) -> list[Written]:
        async with self._pool.acquire() as conn:
            return await record_round(conn, calls)

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
