"""Revoked sessions in Redis: what one turn of the event loop asks goes as one MGET."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from support.services import ServiceUrls

from fowergram.adapters.redis.client import create_redis
from fowergram.adapters.redis.revocations import RedisRevocationList


@pytest.fixture
async def redis(service_urls: ServiceUrls) -> AsyncIterator[Redis]:
    client = create_redis(service_urls.redis)
    try:
        yield client
    finally:
        await client.aclose()


async def test_concurrent_questions_get_each_their_own_answer(redis: Redis) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    revocations = RedisRevocationList(redis, key_prefix=prefix, ttl_s=60)
    sessions = [str(uuid.uuid4()) for _ in range(300)]
    revoked = set(sessions[::3])
    await revocations.add(sorted(revoked))
    commands = 0
    sent: Callable[..., Awaitable[object]] = redis.execute_command

    async def counting(*args: object, **options: object) -> object:
        nonlocal commands
        commands += 1
        return await sent(*args, **options)

    redis.execute_command = counting  # type: ignore[method-assign]
    try:
        answers = await asyncio.gather(*(revocations.contains(s) for s in sessions))
    finally:
        del redis.execute_command
        await redis.delete(*(f"{prefix}revoked:{s}" for s in revoked))

    assert answers == [s in revoked for s in sessions]
    assert commands == 1  # one MGET for the 300 questions of one turn


async def test_a_revocation_is_seen_by_the_next_question(redis: Redis) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    revocations = RedisRevocationList(redis, key_prefix=prefix, ttl_s=60)
    session = str(uuid.uuid4())
    assert not await revocations.contains(session)
    await revocations.add([session])
    try:
        assert await revocations.contains(session)
    finally:
        await redis.delete(f"{prefix}revoked:{session}")


async def test_many_questions_asked_at_once_are_answered_in_order(redis: Redis) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    revocations = RedisRevocationList(redis, key_prefix=prefix, ttl_s=60)
    sessions = [str(uuid.uuid4()) for _ in range(50)]
    revoked = sessions[1::4]
    await revocations.add(revoked)
    try:
        answers = await revocations.contains_many([*sessions, sessions[1]])
    finally:
        await redis.delete(*(f"{prefix}revoked:{s}" for s in revoked))
    assert answers == [s in revoked for s in sessions] + [True]
    assert await revocations.contains_many([]) == []
