"""Watching one post from the WebSocket benchmark's sockets: the subscription, the
`post.activity` events published on the post's core NATS subject, the client that reads
their publish time back, and the post itself (inserted with SQL).

Each message is what the post-activity consumer publishes, with `actorId` and `comment`
null (a comment with an actor costs the server a block lookup per event, which is not
what the broadcast scenario measures) and the publish time in `likeCount`: microseconds
of the system's monotonic clock modulo 2^31 (GraphQL's `Int` is 32 bits; the wrap, every
~36 minutes, is undone by computing ages modulo 2^31 too). `commentCount` carries the
event's sequence number.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import orjson
from nats.aio.client import Client as NATS

from loadtests.ws_wire import WsClient

WATCH = "subscription W($id: ID!) { postActivity(postId: $id) { postId likeCount commentCount } }"
WATCH_ID = "w"  # beside the memory scenario's `n` (notifications) on the same sockets
WATCH_FRAME = b'{"id":"w",'  # how the server's frames for it begin
EVENT = (
    '{"type":"post.activity","postId":%d,"likeCount":%d,"commentCount":%d,'
    '"actorId":null,"comment":null,"deletedCommentId":null}'
)
STAMP_MODULO = 1 << 31  # microseconds: GraphQL's Int is a signed 32-bit integer
INSERT_POST = """
INSERT INTO posts (author_id, caption) VALUES ($1, 'bench: watched by every socket')
RETURNING id
"""
TICK_S = 0.002


async def create_watched_post(database_url: str, author_id: int) -> int:
    """One public post (its author's account is public) for every socket to watch."""
    connection = await asyncpg.connect(database_url)
    try:
        post_id: int = await connection.fetchval(INSERT_POST, author_id)
    finally:
        await connection.close()
    return post_id


def stamp_us() -> int:
    return int(time.monotonic() * 1_000_000) % STAMP_MODULO


def age_s(stamp: int, now: float) -> float:
    """Seconds since `stamp_us()` returned `stamp` (any process: the clock is the system's)."""
    return ((int(now * 1_000_000) - stamp) % STAMP_MODULO) / 1_000_000


class WatchClient(WsClient):
    """A benchmark socket whose sampled deliveries may also be post activity: its latency
    is read from `likeCount`; notifications are sampled as the base client does."""

    __slots__ = ()

    def _sample(self, frame: bytes) -> None:
        if not frame.startswith(WATCH_FRAME):
            super()._sample(frame)
            return
        try:
            stamp = orjson.loads(frame)["payload"]["data"]["postActivity"]["likeCount"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if isinstance(stamp, int):
            now = time.monotonic()
            self._stats.latencies.append((now - age_s(stamp, now), now))


class BroadcastPublisher:
    """Post-activity events on one post's subject, stamped with their publish time."""

    def __init__(self, nc: NATS, prefix: str, post_id: int) -> None:
        self._nc = nc
        self._subject = f"{prefix}.post.{post_id}"
        self._post_id = post_id
        self._seq = 0

    def _next(self) -> bytes:
        self._seq += 1
        return (EVENT % (self._post_id, stamp_us(), self._seq % STAMP_MODULO)).encode()

    async def one(self) -> None:
        await self._nc.publish(self._subject, self._next())
        await self._nc.flush()

    async def steady(self, rate: float, seconds: float) -> int:
        """Events at `rate`/s for `seconds` (the first at once); how many were published."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = 0
        while (elapsed := loop.time() - started) < seconds:
            due = int(rate * elapsed) + 1 - sent
            for _ in range(due):
                await self._nc.publish(self._subject, self._next())
            sent += max(due, 0)
            await asyncio.sleep(TICK_S)
        await self._nc.flush()
        return sent
