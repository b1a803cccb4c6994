"""OAuth requests between the redirect to the provider and its callback, by state."""

from __future__ import annotations

from redis.asyncio import Redis


class RedisPendingLogins:
    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}oauth:"

    async def put(self, state: str, pending: bytes, ttl_s: int) -> None:
        await self._redis.set(self._prefix + state, pending, ex=ttl_s)

    async def take(self, state: str) -> bytes | None:
        if not state or len(state) > 256:
            return None
        value = await self._redis.getdel(self._prefix + state)
        return value if isinstance(value, bytes) else None
