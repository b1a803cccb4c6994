"""Automatic persisted queries: documents by their sha256, shared by every instance.

A small in-process LRU answers the hot documents without a Redis round trip.
"""

from __future__ import annotations

from collections import OrderedDict

from redis.asyncio import Redis

LOCAL_ENTRIES = 2048
TTL_S = 30 * 24 * 3600


class RedisPersistedQueries:
    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}apq:"
        self._local: OrderedDict[str, str] = OrderedDict()

    async def get(self, sha256: str) -> str | None:
        if (document := self._local.get(sha256)) is not None:
            self._local.move_to_end(sha256)
            return document
        stored = await self._redis.get(self._prefix + sha256)
        if stored is None:
            return None
        document = stored.decode() if isinstance(stored, bytes) else str(stored)
        self._remember(sha256, document)
        return document

    async def put(self, sha256: str, document: str) -> None:
        self._remember(sha256, document)
        await self._redis.set(self._prefix + sha256, document, ex=TTL_S)

    def _remember(self, sha256: str, document: str) -> None:
        self._local[sha256] = document
        self._local.move_to_end(sha256)
        while len(self._local) > LOCAL_ENTRIES:
            self._local.popitem(last=False)
