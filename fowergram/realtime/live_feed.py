"""A subscription's view of its socket's live messages: bounded, in order, closable."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any


class FeedOverflow(Exception):
    """The subscription fell further behind than its buffer allows."""


class LiveFeed:
    """Messages of one `type` from the socket's channels, for one running subscription.

    `put` never blocks (it is called from the channel fan-out); when the buffer is full
    `on_overflow` is called — the socket closes as a slow consumer — instead of growing.
    """

    __slots__ = ("_closed", "_items", "_limit", "_on_overflow", "_ready", "kind", "listener")

    def __init__(self, kind: str, limit: int, on_overflow: Callable[[], None]) -> None:
        self.kind = kind
        # Made on first use: a pushed subscription's feed (the common case) never buffers
        # and is never waited on, and each costs ~0.6 KB per socket.
        self._items: deque[dict[str, Any]] | None = None
        self._ready: asyncio.Event | None = None
        self._limit = limit
        self._closed = False
        self._on_overflow = on_overflow
        # Set by a pushed subscription (realtime/pushed.py): each message is handed to it
        # at once, on the fan-out's turn, instead of being buffered for a task to read.
        self.listener: Callable[[dict[str, Any]], None] | None = None

    def put(self, message: dict[str, Any]) -> None:
        if self._closed:
            return
        if self.listener is not None:
            self.listener(message)
            return
        items = self._items
        if items is None:
            items = self._items = deque()
        if len(items) >= self._limit:
            self._on_overflow()
            return
        items.append(message)
        if self._ready is not None:
            self._ready.set()

    def take_pending(self) -> list[dict[str, Any]]:
        """What has arrived and not been read yet, without waiting (for batching)."""
        if not self._items:
            return []
        pending = list(self._items)
        self._items.clear()
        return pending

    def close(self) -> None:
        self._closed = True
        if self._ready is not None:
            self._ready.set()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[dict[str, Any]]:
        ready = self._ready
        if ready is None:
            ready = self._ready = asyncio.Event()
        while True:
            while self._items:
                yield self._items.popleft()
            if self._closed:
                return
            ready.clear()
            await ready.wait()
