"""A notification's recipient as the rules need them: their turned-off kinds and how they
stand to the people an event is about. The events of one turn of the event loop (the
consumer handles a batch's lanes at once) share one statement: one read before their
write transaction, whatever their number."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import asyncpg

from fowergram.adapters.postgres.batch_faults import one_statement_per_turn
from fowergram.adapters.postgres.notifications import turned_off
from fowergram.adapters.postgres.relationships import standing_columns, standing_from_row
from fowergram.domain.notifications.ports import Audience

# $1 the recipients (each row's viewer), $2 the people, pairwise. A person not found has
# no row; a recipient none of whose people were found has none, and nothing to deliver
# either (the rules need the actor's standing).
_AUDIENCES = (
    "SELECT q.recipient_id, u.id, "  # noqa: S608  (constants)
    f"{standing_columns(viewer='q.recipient_id')}, s.disabled_kinds "
    "FROM unnest($1::bigint[], $2::bigint[]) AS q (recipient_id, person_id) "
    "JOIN users u ON u.id = q.person_id "
    "LEFT JOIN notification_settings s ON s.user_id = q.recipient_id"
)

Asked = tuple[int, tuple[int, ...]]  # a recipient and the people, distinct and sorted


class PostgresAudiences:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._reading = one_statement_per_turn(self._read)

    async def audience(self, recipient_id: int, people: Sequence[int]) -> Audience:
        if not people:
            return Audience()
        return await self._reading((recipient_id, tuple(sorted(set(people)))))

    async def _read(self, asked: list[Asked]) -> list[Audience]:
        pairs = sorted({(recipient, person) for recipient, people in asked for person in people})
        rows = await self._pool.fetch(
            _AUDIENCES, [recipient for recipient, _ in pairs], [person for _, person in pairs]
        )
        found: dict[int, dict[int, asyncpg.Record]] = defaultdict(dict)
        for row in rows:
            found[row["recipient_id"]][row["id"]] = row
        return [_audience(recipient, people, found[recipient]) for recipient, people in asked]


def _audience(
    recipient_id: int, people: tuple[int, ...], found: dict[int, asyncpg.Record]
) -> Audience:
    rows = [found[person] for person in people if person in found]
    if not rows:
        return Audience()
    return Audience(
        disabled=turned_off(rows[0]["disabled_kinds"] or ()),
        standings={row["id"]: standing_from_row(row, row["id"], recipient_id) for row in rows},
    )
