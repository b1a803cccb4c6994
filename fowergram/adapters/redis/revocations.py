"""Revoked sessions, remembered for as long as their access tokens could still verify.

Asked on every request and every socket's `connection_init`: the questions of one turn
of the event loop go to Redis as one MGET (a reconnect storm asks hundreds at once)."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from fowergram.adapters.coalesced import Coalesced


class RedisRevocationList:
    def __init__(self, redis: Redis, *, key_prefix: str, ttl_s: int) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}revoked:"
        self._ttl_s = ttl_s
        self._revoked = Coalesced(self._fetch)

    async def add(self, session_ids: Sequence[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.set(self._prefix + session_id, b"1", ex=self._ttl_s)
            await pipe.execute()

    async def contains(self, session_id: str) -> bool:
        return await self._revoked(session_id)

    async def contains_many(self, session_ids: Sequence[str]) -> list[bool]:
        return await self._fetch(session_ids)

    async def _fetch(self, session_ids: Sequence[str]) -> list[bool]:
        if not session_ids:
            return []
        prefix = self._prefix
        values = await self._redis.mget([prefix + session_id for session_id in session_ids])
        return [value is not None for value in values]
