"""Session rows and their refresh tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from fowergram.domain.auth.sessions import ClientInfo, RefreshTokenRecord, RevokeReason, Session


def _session(row: asyncpg.Record) -> Session:
    return Session(
        id=str(row["id"]),
        user_id=row["user_id"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        user_agent=row["user_agent"],
        ip=str(row["ip"]) if row["ip"] is not None else None,
    )


class PostgresSessions:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self,
        *,
        session_id: str,
        user_id: int,
        refresh_hash: bytes,
        expires_at: datetime,
        client: ClientInfo,
    ) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO sessions (id, user_id, expires_at, user_agent, ip) "
                "VALUES ($1, $2, $3, $4, $5)",
                session_id,
                user_id,
                expires_at,
                client.user_agent[:512],
                client.ip,
            )
            await conn.execute(
                "INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
                refresh_hash,
                session_id,
            )

    async def find_refresh(self, refresh_hash: bytes) -> RefreshTokenRecord | None:
        row = await self._pool.fetchrow(
            "SELECT t.session_id, s.user_id, t.replaced_at, s.expires_at, s.revoked_at "
            "FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id "
            "WHERE t.token_hash = $1",
            refresh_hash,
        )
        if row is None:
            return None
        return RefreshTokenRecord(
            session_id=str(row["session_id"]),
            user_id=row["user_id"],
            replaced_at=row["replaced_at"],
            session_expires_at=row["expires_at"],
            session_revoked_at=row["revoked_at"],
        )

    async def rotate(
        self, *, old_hash: bytes, new_hash: bytes, session_id: str, expires_at: datetime
    ) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            # The conditional UPDATE is the arbiter: of two concurrent uses, one wins.
            replaced = await conn.fetchval(
                "UPDATE refresh_tokens SET replaced_at = now() "
                "WHERE token_hash = $1 AND replaced_at IS NULL RETURNING session_id",
                old_hash,
            )
            if replaced is None:
                return False
            await conn.execute(
                "INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
                new_hash,
                session_id,
            )
            await conn.execute(
                "UPDATE sessions SET last_seen_at = now(), expires_at = $2 "
                "WHERE id = $1 AND revoked_at IS NULL",
                session_id,
                expires_at,
            )
        return True

    async def revoke(
        self, session_ids: Sequence[str], reason: RevokeReason, *, user_id: int
    ) -> list[str]:
        rows = await self._pool.fetch(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = $3 "
            "WHERE id = ANY($1::uuid[]) AND user_id = $2 AND revoked_at IS NULL RETURNING id",
            list(session_ids),
            user_id,
            reason.value,
        )
        return [str(row["id"]) for row in rows]

    async def revoke_all(
        self, user_id: int, reason: RevokeReason, *, except_session: str | None = None
    ) -> list[str]:
        rows = await self._pool.fetch(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 "
            "WHERE user_id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3::uuid) "
            "RETURNING id",
            user_id,
            reason.value,
            except_session,
        )
        return [str(row["id"]) for row in rows]

    async def list_active(self, user_id: int) -> list[Session]:
        rows = await self._pool.fetch(
            "SELECT id, user_id, created_at, last_seen_at, expires_at, revoked_at, user_agent, ip "
            "FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() "
            "ORDER BY last_seen_at DESC LIMIT 200",
            user_id,
        )
        return [_session(row) for row in rows]
