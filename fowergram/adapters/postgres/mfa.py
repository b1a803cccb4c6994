"""TOTP enrolments and recovery codes."""

from __future__ import annotations

import asyncpg

from fowergram.domain.auth.mfa import TotpEnrollment


class PostgresMfaStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get_totp(self, user_id: int) -> TotpEnrollment | None:
        row = await self._pool.fetchrow(
            "SELECT secret, confirmed_at, last_used_step FROM mfa_totp WHERE user_id = $1",
            user_id,
        )
        return (
            TotpEnrollment(row["secret"], row["confirmed_at"], row["last_used_step"])
            if row
            else None
        )

    async def start_totp(self, user_id: int, secret: str) -> None:
        # A new enrolment replaces an unconfirmed one; a confirmed one is never overwritten.
        await self._pool.execute(
            "INSERT INTO mfa_totp (user_id, secret) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, created_at = now() "
            "WHERE mfa_totp.confirmed_at IS NULL",
            user_id,
            secret,
        )

    async def confirm_totp(self, user_id: int, step: int, recovery_hashes: list[bytes]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE mfa_totp SET confirmed_at = now(), last_used_step = $2 "
                "WHERE user_id = $1 AND confirmed_at IS NULL",
                user_id,
                step,
            )
            await conn.execute("DELETE FROM mfa_recovery_codes WHERE user_id = $1", user_id)
            await conn.executemany(
                "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
                [(user_id, code_hash) for code_hash in recovery_hashes],
            )

    async def use_step(self, user_id: int, step: int) -> bool:
        result: str = await self._pool.execute(
            "UPDATE mfa_totp SET last_used_step = $2 WHERE user_id = $1 "
            "AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)",
            user_id,
            step,
        )
        return result == "UPDATE 1"

    async def use_recovery_code(self, user_id: int, code_hash: bytes) -> bool:
        result: str = await self._pool.execute(
            "UPDATE mfa_recovery_codes SET used_at = now() "
            "WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            user_id,
            code_hash,
        )
        return result == "UPDATE 1"

    async def delete_totp(self, user_id: int) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM mfa_recovery_codes WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM mfa_totp WHERE user_id = $1", user_id)
