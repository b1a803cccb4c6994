"""The transactional outbox: events go in with the change they describe, or not at all."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.domain.events import DomainEvent

Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def record_events(conn: Conn, events: Sequence[DomainEvent]) -> None:
    """Insert `events` on `conn`, which must be inside the change's transaction."""
    if not conn.is_in_transaction():
        raise RuntimeError("outbox events must be written inside the change's transaction")
    await conn.executemany(
        "INSERT INTO outbox (kind, aggregate_id, payload) VALUES ($1, $2, $3)",
        [(event.kind, event.aggregate_id, event.payload) for event in events],
    )
