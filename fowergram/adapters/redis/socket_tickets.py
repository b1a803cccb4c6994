"""One-time tickets that let a browser in cookie mode authenticate a WebSocket.

Its access token is an httpOnly cookie that scripts cannot read, and cookies on the
upgrade are not trusted (cross-site WebSocket hijacking): so the page asks, over an
anti-CSRF-protected POST, for a ticket that stands for its access token for a minute,
once, and sends it in `connection_init`.
"""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from fowergram.domain.auth.token_hash import hash_token

TICKET_TTL_S = 60


class RedisSocketTickets:
    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}wsticket:"

    async def issue(self, access_token: str) -> str:
        ticket = secrets.token_urlsafe(32)
        await self._redis.set(
            self._prefix + hash_token(ticket).hex(), access_token, ex=TICKET_TTL_S
        )
        return ticket

    async def redeem(self, ticket: str) -> str | None:
        """The access token a ticket stands for, once; None if unknown, used or expired."""
        if not ticket or len(ticket) > 128:
            return None
        value = await self._redis.getdel(self._prefix + hash_token(ticket).hex())
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
