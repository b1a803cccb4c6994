"""The Redis client (redis-py asyncio, hiredis parser when installed)."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        max_connections=256,
    )


async def ping(redis: Redis) -> None:
    await redis.ping()
