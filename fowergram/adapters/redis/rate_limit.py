"""Rate limits in Redis (the `limits` library, moving windows), shared by all instances."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from fowergram.domain.auth.ports import Rate
from fowergram.domain.errors import RateLimited


def _item(rate: Rate) -> RateLimitItemPerSecond:
    return RateLimitItemPerSecond(rate.limit, rate.window_s)


class RedisRateLimiter:
    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        # Share the application's connection pool instead of opening a second one.
        self._storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=f"{key_prefix}rl",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # typed too narrowly
        )
        self._limiter = MovingWindowRateLimiter(self._storage)

    async def hit(self, key: str, rate: Rate) -> None:
        if not await self._limiter.hit(_item(rate), key):
            raise RateLimited(await self._retry_after(key, rate))

    async def check(self, key: str, rate: Rate) -> None:
        if not await self._limiter.test(_item(rate), key):
            raise RateLimited(await self._retry_after(key, rate))

    async def _retry_after(self, key: str, rate: Rate) -> int:
        stats = await self._limiter.get_window_stats(_item(rate), key)
        return max(1, math.ceil(stats.reset_time - time.time()))
