"""The relay's side of the outbox: claim unpublished rows, settle them, measure the lag.

Use a pool of its own, built without the request pool's query observer: the relay's
statements are not requests' round trips.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import asyncpg

from fowergram.domain.events import RecordedEvent

# The channel migration 0009's trigger notifies on every committed outbox insert.
OUTBOX_CHANNEL = "fg_outbox"

# SKIP LOCKED: several relays never claim the same row; the partial index serves it.
# Poll by the predicate, not `id > last`: a lower id can commit after a higher one.
CLAIM = """
    SELECT id, kind, aggregate_id, payload, created_at FROM outbox
    WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
MARK_PUBLISHED = """
    UPDATE outbox SET published_at = clock_timestamp(), last_error = NULL
    WHERE id = ANY($1::bigint[])
"""
MARK_FAILED = "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1"
OLDEST_AGE = """
    SELECT extract(epoch FROM clock_timestamp() - created_at)::float8 FROM outbox
    WHERE published_at IS NULL ORDER BY id LIMIT 1
"""
MAX_ERROR_CHARS = 1000


class ClaimedRows:
    """Rows locked by the open transaction until it ends; `settle` records the outcome."""

    def __init__(self, conn: asyncpg.pool.PoolConnectionProxy, events: list[RecordedEvent]):
        self._conn = conn
        self.events: Sequence[RecordedEvent] = events

    async def settle(self, published: Sequence[int], failure: tuple[int, str] | None) -> None:
        if published:
            await self._conn.execute(MARK_PUBLISHED, list(published))
        if failure is not None:
            event_id, error = failure
            await self._conn.execute(MARK_FAILED, event_id, error[:MAX_ERROR_CHARS])


class PostgresOutboxQueue:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[ClaimedRows]:
        """The oldest `limit` unpublished rows no other relay holds, locked until exit
        (commit; rollback on an exception, which leaves the rows for the next claim)."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM, limit)
            yield ClaimedRows(conn, [_event(row) for row in rows])

    async def oldest_unpublished_age_s(self) -> float | None:
        """Seconds since the oldest unpublished row was written; None when all are out."""
        age: float | None = await self._pool.fetchval(OLDEST_AGE, timeout=5)
        return age


def _event(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        id=row["id"],
        kind=row["kind"],
        aggregate_id=row["aggregate_id"],
        payload=row["payload"],
        created_at=row["created_at"],
    )
