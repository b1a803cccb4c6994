"""Accounts by id: the reads of one turn of the event loop are one statement, each caller
its own account (or None)."""

from __future__ import annotations

import asyncio

import asyncpg
from support.db_rows import insert_users
from support.observed_pool import ObservedPool

from fowergram.adapters.postgres.accounts import PostgresAccounts


async def test_accounts_read_together_are_one_statement_each_its_own(
    pool: asyncpg.Pool, observed: ObservedPool
) -> None:
    first, second = await insert_users(pool, 2)
    await pool.execute("UPDATE users SET banned_at = now() WHERE id = $1", second)
    accounts = PostgresAccounts(observed.pool)
    found = await asyncio.gather(
        accounts.get_by_id(second),
        accounts.get_by_id(987654321987),
        accounts.get_by_id(first),
        accounts.get_by_id(second),
    )

    assert len(observed.statements) == 1
    banned, unknown, plain, again = found
    assert unknown is None
    assert plain is not None
    assert (plain.id, plain.banned_at) == (first, None)
    assert banned is not None
    assert banned.id == second
    assert banned.banned_at is not None
    assert again == banned
