"""Hashed single-use tokens behind mailed links, and the email-verified mark."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from fowergram.domain.auth.recovery import Purpose, TokenOwner


class PostgresMailedTokens:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert(
        self, *, token_hash: bytes, user_id: int, purpose: Purpose, email: str, expires_at: datetime
    ) -> None:
        await self._pool.execute(
            "INSERT INTO auth_tokens (token_hash, user_id, purpose, email, expires_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            token_hash,
            user_id,
            purpose.value,
            email,
            expires_at,
        )

    async def consume(self, token_hash: bytes, purpose: Purpose) -> TokenOwner | None:
        # One statement: of two concurrent uses of a token, exactly one succeeds.
        row = await self._pool.fetchrow(
            "UPDATE auth_tokens SET used_at = now() "
            "WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now() "
            "RETURNING user_id, email",
            token_hash,
            purpose.value,
        )
        return TokenOwner(row["user_id"], row["email"]) if row else None

    async def mark_email_verified(self, user_id: int, email: str) -> bool:
        result: str = await self._pool.execute(
            "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) "
            "WHERE id = $1 AND lower(email) = lower($2) AND deleted_at IS NULL",
            user_id,
            email,
        )
        return result == "UPDATE 1"
