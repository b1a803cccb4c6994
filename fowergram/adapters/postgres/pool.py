"""The asyncpg connection pool, with JSON codecs backed by orjson."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

QueryObserver = Callable[[Any], None]

ARRAY_TYPES_WE_SEND = "SELECT $1::bigint[], $2::uuid[], $3::text[], $4::int[], $5::smallint[]"


async def _init_connection(conn: asyncpg.Connection, observer: QueryObserver | None) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )
    # asyncpg looks up array types on a connection's first use of each (three round
    # trips: jit off, the type query, jit back). Done here, once per connection, rather
    # than inside whichever request first sends a bigint[] on it.
    await conn.prepare(ARRAY_TYPES_WE_SEND)
    # Observed from here on: set-up runs whenever the pool replaces an idle connection,
    # and counting it would make a request's query count depend on the pool's age.
    if observer is not None:
        conn.add_query_logger(observer)


async def _skip_server_reset(conn: asyncpg.Connection) -> None:
    """Pooled connections here never keep session state (no session advisory locks,
    LISTEN or SET; those use dedicated connections or SET LOCAL). So asyncpg's reset
    query on release (pg_advisory_unlock_all, UNLISTEN, RESET ALL), one extra round trip
    per checkout, half of a profile page's, is skipped; asyncpg still rolls back any
    open transaction locally first."""


async def create_pool(
    url: str, *, min_size: int, max_size: int, on_query: QueryObserver | None = None
) -> asyncpg.Pool:
    """`on_query` is called after every statement (asyncpg's query logger): metrics."""
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=functools.partial(_init_connection, observer=on_query),
        reset=_skip_server_reset,
        command_timeout=30,
    )
    assert pool is not None
    return pool


async def ping(pool: asyncpg.Pool) -> None:
    await pool.fetchval("SELECT 1", timeout=2)
