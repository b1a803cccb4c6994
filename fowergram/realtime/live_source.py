"""What a live subscription's resolver listens through: a socket, or a shared stream that
serves many sockets (multiplexing). Both give feeds of message types and channel joins."""

from __future__ import annotations

from typing import Protocol

from fowergram.realtime.live_feed import LiveFeed


class LiveSource(Protocol):
    # True when one execution serves many sockets: the hub has authorised each of them,
    # and the result must not depend on who is watching.
    shared: bool

    def open_feed(self, kind: str) -> LiveFeed: ...

    def drop_feed(self, feed: LiveFeed) -> None: ...

    def topic(self, kind: str, key: int) -> str:
        """The channel name of `kind` ("post", "presence", …) for `key`."""
        ...

    async def join(self, channel: str) -> None: ...

    async def leave(self, channel: str) -> None: ...

    def note_actor(self, actor_id: int | None) -> None:
        """Who caused the event about to be yielded (a shared stream hides it from the
        sockets of people who block, or are blocked by, that user)."""
        ...
