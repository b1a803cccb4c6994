"""Revoked sessions, remembered for as long as their access tokens could still verify."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis


class RedisRevocationList:
    def __init__(self, redis: Redis, *, key_prefix: str, ttl_s: int) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}revoked:"
        self._ttl_s = ttl_s

    async def add(self, session_ids: Sequence[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.set(self._prefix + session_id, b"1", ex=self._ttl_s)
            await pipe.execute()

    async def contains(self, session_id: str) -> bool:
        return bool(await self._redis.exists(self._prefix + session_id))
