"""Users as accounts: the rows the auth service reads and writes."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from fowergram.adapters.postgres.batch_faults import one_statement_per_turn
from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.viewer import Role
from fowergram.domain.errors import Conflict

# Literal statements (no string building): parameters only ever travel as $n.
_INSERT = (
    "INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3) "
    "RETURNING id, username, email, password_hash, role, email_verified_at, created_at, "
    "deleted_at, banned_at"
)
_SELECT = (
    "SELECT id, username, email, password_hash, role, email_verified_at, created_at, "
    "deleted_at, banned_at FROM users "
)
_BY_IDS = _SELECT + "WHERE id = ANY($1::bigint[])"
_BY_EMAIL = _SELECT + "WHERE lower(email) = lower($1) AND deleted_at IS NULL"
_BY_USERNAME = _SELECT + "WHERE lower(username) = lower($1) AND deleted_at IS NULL"
_SET_BANNED = (
    "UPDATE users SET banned_at = $2, ban_reason = $3 WHERE id = $1 AND deleted_at IS NULL"
)

# Unique index → the field a client must change.
_TAKEN = {"users_username_lower_key": "username", "users_email_lower_key": "email"}


def _account(row: asyncpg.Record) -> Account:
    return Account(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        password_hash=row["password_hash"],
        role=Role(row["role"]),
        email_verified_at=row["email_verified_at"],
        created_at=row["created_at"],
        deleted_at=row["deleted_at"],
        banned_at=row["banned_at"],
    )


class PostgresAccounts:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # `me` and the sign-in flows read an account by id: the reads of one turn of the
        # event loop are one statement.
        self._by_id = one_statement_per_turn(self._read)

    async def insert(self, *, username: str, email: str, password_hash: str | None) -> Account:
        try:
            row = await self._pool.fetchrow(
                _INSERT,
                username,
                email,
                password_hash,
            )
        except asyncpg.UniqueViolationError as exc:
            field = _TAKEN.get(exc.constraint_name or "", "username")
            raise Conflict(f"this {field} is already taken", field=field) from None
        assert row is not None
        return _account(row)

    async def get_by_id(self, user_id: int) -> Account | None:
        return await self._by_id(user_id)

    async def _read(self, user_ids: list[int]) -> list[Account | None]:
        rows = await self._pool.fetch(_BY_IDS, user_ids)
        found = {row["id"]: _account(row) for row in rows}
        return [found.get(user_id) for user_id in user_ids]

    async def get_by_email(self, email: str) -> Account | None:
        row = await self._pool.fetchrow(_BY_EMAIL, email)
        return _account(row) if row else None

    async def get_by_username(self, username: str) -> Account | None:
        row = await self._pool.fetchrow(_BY_USERNAME, username)
        return _account(row) if row else None

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._pool.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash
        )

    async def set_banned(
        self, user_id: int, *, banned_at: datetime | None, reason: str | None
    ) -> bool:
        status = await self._pool.execute(_SET_BANNED, user_id, banned_at, reason)
        return bool(status.endswith(" 1"))
