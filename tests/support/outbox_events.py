"""Outbox events read back from PostgreSQL: for tests that hand them to a consumer's handler
directly (no relay and no stream between the write and the handler), and for tests of
what the relay has still to publish."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from fowergram.domain.events import RecordedEvent

Deliver = Callable[[str, int], Awaitable[None]]
"""`deliver(kind, aggregate_id)`: hand the handler the latest such event."""


async def latest_event(pool: asyncpg.Pool, kind: str, aggregate_id: int) -> RecordedEvent:
    """The latest outbox event of `kind` about `aggregate_id`, as the relay would send it."""
    row = await pool.fetchrow(
        "SELECT id, kind, aggregate_id, payload, created_at FROM outbox "
        "WHERE kind = $1 AND aggregate_id = $2 ORDER BY id DESC LIMIT 1",
        kind,
        aggregate_id,
    )
    assert row is not None, (kind, aggregate_id)
    return RecordedEvent(
        row["id"], row["kind"], row["aggregate_id"], row["payload"], row["created_at"]
    )


def delivering(pool: asyncpg.Pool, handle: Callable[[RecordedEvent], Awaitable[None]]) -> Deliver:
    """A `Deliver` feeding `handle` as its consumer would, one event at a time."""

    async def deliver(kind: str, aggregate_id: int) -> None:
        await handle(await latest_event(pool, kind, aggregate_id))

    return deliver


async def unpublished_count(db: asyncpg.Pool | asyncpg.Connection) -> int:
    """Outbox rows the relay has not published yet."""
    count: int = await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return count
