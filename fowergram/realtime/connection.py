"""One socket: who it is, its running operations, its live feeds and its bounded outbox.

Frames are queued without waiting (`push`) and written by one writer task, so a client
that stops reading blocks only its own writer; when its queue passes the limits (frames
or bytes) the socket is closed as a slow consumer instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from fowergram.domain.auth.service import Authenticated
from fowergram.domain.auth.viewer import Viewer
from fowergram.realtime.live_feed import LiveFeed
from fowergram.realtime.protocol import Close, Dialect

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Cancellable(Protocol):
    def cancel(self) -> object: ...


class ChannelSinkLike(Protocol):
    def deliver(self, channel: str, message: str | bytes) -> None: ...


class ChannelRouter(Protocol):
    async def join(self, channel: str, sink: ChannelSinkLike) -> None: ...

    async def leave(self, channel: str, sink: ChannelSinkLike) -> None: ...

    def topic(self, kind: str, key: int) -> str: ...


# How long a close may wait for a client that does not read before the socket is dropped.
CLOSE_TIMEOUT_S = 2.0


async def _driven(send: Awaitable[None]) -> None:
    """A coroutine around an ASGI send, which `push` can run step by step."""
    await send


@dataclass(frozen=True, slots=True)
class OutboundLimits:
    max_frames: int = 256
    max_bytes: int = 1024 * 1024
    feed_frames: int = 256


class Connection:
    __slots__ = (
        "_abandon_timer",
        "_main",
        "_on_slow",
        "_queue",
        "_queued_bytes",
        "_ready",
        "_router",
        "_send",
        "_sending",
        "_stalled",
        "_writer",
        "acked",
        "auth",
        "closing",
        "dialect",
        "feeds",
        "id",
        "init_received",
        "joined",
        "last_seen",
        "limits",
        "operations",
        "viewer",
    )

    def __init__(
        self,
        connection_id: str,
        dialect: Dialect,
        send: Send,
        limits: OutboundLimits,
        *,
        now: float,
        on_slow: Callable[[], None],
        router: ChannelRouter | None = None,
    ) -> None:
        self.id = connection_id
        self.dialect = dialect
        self.limits = limits
        self.viewer: Viewer | None = None
        self.auth: Authenticated | None = None
        self.init_received = False
        self.acked = False
        self.operations: dict[str, Cancellable] = {}
        self.feeds: list[LiveFeed] = []
        # Channels joined by this socket's subscriptions (beyond its user's), with counts.
        self.joined: dict[str, int] = {}
        self._router = router
        self.closing: tuple[int, str] | None = None
        self.last_seen = now
        self._send = send
        self._on_slow = on_slow
        self._queue: deque[str] = deque()
        self._queued_bytes = 0
        self._ready = asyncio.Event()
        self._sending = False
        # A send started by `push` that had to wait: its coroutine and what it waits on.
        self._stalled: tuple[Coroutine[Any, Any, None], Any] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._main = asyncio.current_task()
        self._abandon_timer: asyncio.TimerHandle | None = None

    shared = False  # one socket's own operations (LiveSource)

    @property
    def session_id(self) -> str | None:
        return self.viewer.session_id if self.viewer is not None else None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write())

    def push(self, frame: str) -> None:
        """Send a frame to the client, or queue it; never waits."""
        if self.closing is not None:
            return
        if not self._queue and not self._sending and self._stalled is None:
            self._send_now(frame)
            return
        size = len(frame)
        limits = self.limits
        if len(self._queue) >= limits.max_frames or self._queued_bytes + size > limits.max_bytes:
            self.close_slow()
            return
        self._queue.append(frame)
        self._queued_bytes += size
        self._ready.set()

    def _send_now(self, frame: str) -> None:
        # Most sends complete without waiting (the transport takes the bytes at once): run
        # the send coroutine right here instead of waking the writer task for each frame.
        # If it has to wait (the client's buffers are full), the writer finishes it.
        sending = _driven(self._send({"type": "websocket.send", "text": frame}))
        try:
            blocked = sending.send(None)
        except StopIteration:
            return
        except OSError:  # the client is gone; the read loop sees the disconnect
            return
        self._stalled = (sending, blocked)
        self._ready.set()

    def close_slow(self) -> None:
        if self.closing is None:
            self._on_slow()
            self.close(Close.SLOW_CONSUMER, "slow consumer: too many frames pending", flush=False)

    def close(self, code: int, reason: str = "", *, flush: bool = True) -> None:
        """Close with `code`, after the queued frames when `flush` (an `error` before a
        4400), at once otherwise. A client that does not take the close frame in time is
        dropped without it."""
        if self.closing is not None:
            return
        self.closing = (code, reason)
        for operation in self.operations.values():
            operation.cancel()
        for feed in self.feeds:
            feed.close()
        self._abandon_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, self._abandon)
        if not flush:
            self._queue.clear()
            self._queued_bytes = 0
            if self._stalled is not None:
                self._stalled[0].close()
                self._stalled = None
            if self._sending and self._writer is not None:  # stuck writing to this client
                self._writer.cancel()
                self._writer = asyncio.create_task(self._send_close())
                return
        self._ready.set()

    def open_feed(self, kind: str) -> LiveFeed:
        feed = LiveFeed(kind, self.limits.feed_frames, self.close_slow)
        if self.closing is not None:
            feed.close()
        self.feeds.append(feed)
        return feed

    def drop_feed(self, feed: LiveFeed) -> None:
        feed.close()
        if feed in self.feeds:
            self.feeds.remove(feed)

    def topic(self, kind: str, key: int) -> str:
        if self._router is None:
            raise RuntimeError("this socket has no channel router")
        return self._router.topic(kind, key)

    def note_actor(self, actor_id: int | None) -> None:
        pass  # a socket's own operations are authorised as its viewer already

    async def join(self, channel: str) -> None:
        """Listen to `channel` too (e.g. the presence of someone a subscription watches)."""
        if self._router is None:
            raise RuntimeError("this socket has no channel router")
        count = self.joined.get(channel, 0)
        self.joined[channel] = count + 1
        if count == 0:
            await self._router.join(channel, self)

    async def leave(self, channel: str) -> None:
        count = self.joined.get(channel, 0)
        if count > 1:
            self.joined[channel] = count - 1
        elif count == 1:
            del self.joined[channel]
            if self._router is not None:
                await self._router.leave(channel, self)

    async def leave_all(self) -> None:
        joined, self.joined = self.joined, {}
        if self._router is not None:
            for channel in joined:
                await self._router.leave(channel, self)

    def deliver(self, channel: str, message: str | bytes) -> None:
        """A message from one of this socket's channels (the ChannelSink side)."""
        if self.closing is not None:
            return
        try:
            decoded = orjson.loads(message)
        except orjson.JSONDecodeError:
            log.warning("undecodable live message", extra={"channel": channel})
            return
        if not isinstance(decoded, dict):
            return
        kind = decoded.get("type")
        if kind == "session.revoked":
            if self.session_id is not None and self.session_id in decoded.get("sessionIds", ()):
                self.close(Close.FORBIDDEN, "session revoked", flush=False)
            return
        decoded["channel"] = channel
        for feed in self.feeds:
            if feed.kind == kind:
                feed.put(decoded)

    async def finish(self) -> None:
        """Stop everything this socket runs (it has closed)."""
        if self._abandon_timer is not None:
            self._abandon_timer.cancel()
        for operation in self.operations.values():
            operation.cancel()
        tasks = [op for op in self.operations.values() if isinstance(op, asyncio.Task)]
        if self._writer is not None:
            self._writer.cancel()
            tasks.append(self._writer)
        for feed in self.feeds:
            feed.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Break the cycles a closed socket would otherwise leave for the collector
        # (socket → its cancelled tasks → their tracebacks' frames → socket).
        self.operations.clear()
        self.feeds.clear()
        self._writer = None
        self._main = None
        self._stalled = None

    async def _write(self) -> None:
        queue, send = self._queue, self._send
        try:
            while True:
                if self._stalled is not None:
                    self._sending = True
                    await self._finish_stalled()
                    self._sending = False
                elif queue:
                    frame = queue.popleft()
                    self._queued_bytes -= len(frame)
                    self._sending = True
                    await send({"type": "websocket.send", "text": frame})
                    self._sending = False
                elif self.closing is not None:
                    break
                else:
                    self._ready.clear()
                    await self._ready.wait()
        except OSError:  # the client is gone (uvicorn's ClientDisconnected)
            return
        await self._send_close()

    async def _finish_stalled(self) -> None:
        """Drive a send that `push` started and that had to wait, as a task would."""
        assert self._stalled is not None
        sending, blocked = self._stalled
        try:
            while True:
                if isinstance(blocked, asyncio.Future):
                    blocked._asyncio_future_blocking = False
                    await asyncio.wait({blocked})
                else:  # a bare yield: run again on the next loop iteration
                    await asyncio.sleep(0)
                try:
                    blocked = sending.send(None)
                except StopIteration:
                    return
        finally:
            if self._stalled is not None and self._stalled[0] is sending:
                self._stalled = None
            sending.close()

    async def _send_close(self) -> None:
        assert self.closing is not None
        code, reason = self.closing
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except (OSError, RuntimeError):
            self._abandon()

    def _abandon(self) -> None:
        # The close frame could not be sent: end the socket's handler, which makes
        # uvicorn close the transport.
        if self._main is not None and not self._main.done():
            self._main.cancel()
