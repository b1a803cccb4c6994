"""Provider accounts linked to users (oauth_identities)."""

from __future__ import annotations

import asyncpg

from fowergram.domain.errors import Conflict


class PostgresIdentities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def user_for(self, provider: str, subject: str) -> int | None:
        user_id: int | None = await self._pool.fetchval(
            "SELECT user_id FROM oauth_identities WHERE provider = $1 AND subject = $2",
            provider,
            subject,
        )
        return user_id

    async def link(self, *, provider: str, subject: str, user_id: int, email: str | None) -> None:
        try:
            await self._pool.execute(
                "INSERT INTO oauth_identities (provider, subject, user_id, email) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (provider, subject) DO NOTHING",
                provider,
                subject,
                user_id,
                email,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"this account is already linked to another {provider} account", field="provider"
            ) from None
