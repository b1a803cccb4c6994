"""A notification's recipient as the rules need them: their turned-off kinds and how they
stand to the people an event is about, in one statement (a notification event is one
read before its write transaction, not two)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.adapters.postgres.notifications import turned_off
from fowergram.adapters.postgres.relationships import standing_columns, standing_from_row
from fowergram.domain.notifications.ports import Audience

# $1 the recipient (the standings' viewer), $2 the people. With none of them found there
# is no row, and nothing to deliver either (the rules need the actor's standing).
_AUDIENCE = (
    f"SELECT u.id, {standing_columns()}, s.disabled_kinds FROM users u "  # noqa: S608  (constants)
    "LEFT JOIN notification_settings s ON s.user_id = $1 "
    "WHERE u.id = ANY($2::bigint[])"
)


class PostgresAudiences:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def audience(self, recipient_id: int, people: Sequence[int]) -> Audience:
        if not people:
            return Audience()
        rows = await self._pool.fetch(_AUDIENCE, recipient_id, list(set(people)))
        if not rows:
            return Audience()
        return Audience(
            disabled=turned_off(rows[0]["disabled_kinds"] or ()),
            standings={row["id"]: standing_from_row(row, row["id"], recipient_id) for row in rows},
        )
