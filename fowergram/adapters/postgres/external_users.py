"""Users whose credentials an external identity service keeps (external_auth_users)."""

from __future__ import annotations

import asyncpg

from fowergram.domain.errors import Conflict

# One statement, so the account and its mapping exist together or not at all.
_INSERT_USER = (
    "WITH account AS ("
    "INSERT INTO users (username, email, password_hash) VALUES ($3, $4, NULL) RETURNING id"
    "), mapping AS ("
    "INSERT INTO external_auth_users (provider, subject, user_id) SELECT $1, $2, id FROM account"
    ") SELECT id FROM account"
)

# Unique index → the field a client must change.
_TAKEN = {
    "users_username_lower_key": "username",
    "users_email_lower_key": "email",
    "external_auth_users_pkey": "subject",
}


class PostgresExternalUsers:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get_user_id(self, provider: str, subject: str) -> int | None:
        user_id: int | None = await self._pool.fetchval(
            "SELECT user_id FROM external_auth_users WHERE provider = $1 AND subject = $2",
            provider,
            subject,
        )
        return user_id

    async def get_subject(self, provider: str, user_id: int) -> str | None:
        subject: str | None = await self._pool.fetchval(
            "SELECT subject FROM external_auth_users WHERE user_id = $1 AND provider = $2",
            user_id,
            provider,
        )
        return subject

    async def insert_user(self, *, provider: str, subject: str, username: str, email: str) -> int:
        """A users row (no password hash: the provider keeps the credentials) and its mapping.

        Raise `Conflict` (field username or email) when either is taken.
        """
        try:
            user_id: int | None = await self._pool.fetchval(
                _INSERT_USER, provider, subject, username, email
            )
        except asyncpg.UniqueViolationError as exc:
            field = _TAKEN.get(exc.constraint_name or "", "username")
            raise Conflict(f"this {field} is already taken", field=field) from None
        assert user_id is not None
        return user_id
