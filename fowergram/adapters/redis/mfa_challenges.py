"""Sign-ins waiting for a second factor: short-lived keys in Redis."""

from __future__ import annotations

from redis.asyncio import Redis


class RedisMfaChallenges:
    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}mfa:"

    def _key(self, token_hash: bytes) -> str:
        return self._prefix + token_hash.hex()

    async def put(self, token_hash: bytes, user_id: int, ttl_s: int) -> None:
        await self._redis.set(self._key(token_hash), str(user_id), ex=ttl_s)

    async def get(self, token_hash: bytes) -> int | None:
        value = await self._redis.get(self._key(token_hash))
        return int(value) if value is not None else None

    async def delete(self, token_hash: bytes) -> None:
        await self._redis.delete(self._key(token_hash))
