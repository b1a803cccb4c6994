"""One socket: who it is, its running operations, its live feeds and its bounded outbox.

Frames go straight to the socket's transport (`push` never waits): the transport's own
buffer, behind the kernel's, is the outbox. A client that stops reading makes it grow;
past the limits (frames written while the transport is over its high-water mark, or
bytes buffered) the socket is closed as a slow consumer instead of buffering without
bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from fowergram.domain.auth.service import Authenticated
from fowergram.domain.auth.viewer import Viewer
from fowergram.realtime.live_feed import LiveFeed
from fowergram.realtime.protocol import Close, Dialect

log = logging.getLogger(__name__)


class Wire(Protocol):
    """The socket's transport as a connection writes to it (`ws_transport.HubProtocol`)."""

    @property
    def writing_paused(self) -> bool:
        """The transport is over its high-water mark: the client is not keeping up."""

    def write_text(self, payload: bytes) -> None:
        """One text frame."""

    def backlog(self) -> int:
        """Bytes written and not yet taken by the kernel."""

    def send_close(self, code: int, reason: str) -> None:
        """The close frame, after what is already written."""

    def send_ping(self) -> None:
        """A protocol-level ping (every client answers it)."""

    def abort(self) -> None:
        """Drop the connection without a goodbye."""


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


@dataclass(frozen=True, slots=True)
class OutboundLimits:
    max_frames: int = 256
    max_bytes: int = 1024 * 1024
    feed_frames: int = 256


class Connection:
    __slots__ = (
        "_abandon_timer",
        "_backlogged",
        "_on_slow",
        "_router",
        "_wire",
        "acked",
        "admission",
        "auth",
        "closing",
        "dialect",
        "feeds",
        "id",
        "init_received",
        "init_timer",
        "joined",
        "last_seen",
        "limits",
        "next_ping",
        "opened_at",
        "operations",
        "pending",
        "session_checked_at",
        "viewer",
    )

    def __init__(
        self,
        connection_id: str,
        dialect: Dialect,
        wire: Wire,
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
        # Loop time its session was last found unrevoked with its user's channel live
        # (admission): until then a revocation could have missed the socket.
        self.session_checked_at: float | None = None
        self.init_received = False
        self.acked = False
        self.operations: dict[str, Cancellable] = {}
        self.feeds: list[LiveFeed] = []
        # Channels joined by this socket's subscriptions (beyond its user's), with counts.
        self.joined: dict[str, int] = {}
        # While connection_init is being answered: the batch answering it (shared: never
        # cancelled for one socket), and the messages that came after it (answered in
        # order once it is done).
        self.admission: asyncio.Task[None] | None = None
        self.pending: list[bytes] | None = None
        self.init_timer: asyncio.TimerHandle | None = None
        self._router = router
        self.closing: tuple[int, str] | None = None
        self.opened_at = now
        self.last_seen = now
        self.next_ping = now  # the hub sets each socket's keep-alive phase
        self._wire = wire
        self._on_slow = on_slow
        self._backlogged = 0  # frames written since the transport went over its mark
        self._abandon_timer: asyncio.TimerHandle | None = None

    shared = False  # one socket's own operations (LiveSource)

    @property
    def session_id(self) -> str | None:
        return self.viewer.session_id if self.viewer is not None else None

    def push(self, frame: str | bytes) -> None:
        """Send a frame to the client; never waits."""
        if self.closing is not None:
            return
        wire = self._wire
        wire.write_text(frame.encode() if isinstance(frame, str) else frame)
        if wire.writing_paused:
            self._backlogged += 1
            limits = self.limits
            if self._backlogged > limits.max_frames or wire.backlog() > limits.max_bytes:
                self.close_slow()

    def writable(self) -> None:
        """The transport took its backlog (back under its low-water mark)."""
        self._backlogged = 0

    def ping(self) -> None:
        """Keep-alive: the protocol's own ping frame, and a WebSocket ping for a legacy
        client (its protocol has no answer to "ka"; every WebSocket client answers a ping,
        and the answer proves the peer alive)."""
        if self.closing is not None:
            return
        self.push(self.dialect.keepalive_frame)
        if self.dialect.legacy:
            self._wire.send_ping()

    def close_slow(self) -> None:
        if self.closing is None:
            self._on_slow()
            self.close(Close.SLOW_CONSUMER, "slow consumer: too many frames pending")

    def close(self, code: int, reason: str = "") -> None:
        """Close with `code` (after what is already written: an `error` before a 4400
        arrives first). A client that does not take the close frame in time is dropped
        without it."""
        if self.closing is not None:
            return
        self.closing = (code, reason)
        self._stop()
        self._wire.send_close(code, reason)
        self._abandon_timer = asyncio.get_running_loop().call_later(
            CLOSE_TIMEOUT_S, self._wire.abort
        )

    def lost(self) -> None:
        """The transport is gone (closed by either side, or dropped)."""
        if self.closing is None:
            self.closing = (Close.GOING_AWAY, "connection lost")
        self._stop()
        if self._abandon_timer is not None:
            self._abandon_timer.cancel()
            self._abandon_timer = None

    def _stop(self) -> None:
        for operation in self.operations.values():
            operation.cancel()
        for feed in self.feeds:
            feed.close()
        if self.init_timer is not None:
            self.init_timer.cancel()
            self.init_timer = None
        self.pending = None

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
                self.close(Close.FORBIDDEN, "session revoked")
            return
        decoded["channel"] = channel
        for feed in self.feeds:
            if feed.kind == kind:
                feed.put(decoded)

    async def finish(self) -> None:
        """Wait for everything this socket ran to stop (it has closed)."""
        self.lost()
        tasks = [op for op in self.operations.values() if isinstance(op, asyncio.Task)]
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.admission is not None:
            # Whatever it did for this socket (channel, presence) is then done, for the
            # hub's removal to undo; it is not cancelled: it answers other sockets too.
            await asyncio.wait([self.admission])
        # Break the cycles a closed socket would otherwise leave for the collector
        # (socket -> its cancelled tasks -> their tracebacks' frames -> socket).
        self.operations.clear()
        self.feeds.clear()
