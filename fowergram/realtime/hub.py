"""The connection hub: every socket of this instance, by user, and their upstream interest.

An authenticated socket joins its user's channel (`<prefix>.user.<id>`); the channel
router subscribes upstream only while some socket of that user is here. The hub also
keeps sockets alive (pings, dead-peer detection) and drains them for a deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fowergram.observability.metrics import Metrics
from fowergram.realtime.connection import ChannelSinkLike, Connection
from fowergram.realtime.protocol import Close

if TYPE_CHECKING:
    from fowergram.realtime.multiplex import Multiplexer
    from fowergram.realtime.pushed import Pusher

log = logging.getLogger(__name__)
SWEEP_BATCH = 200  # sockets looked at per turn of the event loop
SWEEPS_PER_INTERVAL = 10


class Upstream(Protocol):
    """The instance's channel fan-out (Channels)."""

    async def join(self, channel: str, sink: ChannelSinkLike) -> None: ...

    async def join_many(
        self, joins: Sequence[tuple[str, ChannelSinkLike]]
    ) -> list[BaseException | None]: ...

    async def leave(self, channel: str, sink: ChannelSinkLike) -> None: ...


class PresencePort(Protocol):
    async def connected_many(self, sockets: Sequence[tuple[int, str]]) -> None: ...

    async def disconnected(self, user_id: int, connection_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class KeepAlive:
    ping_interval_s: float = 15.0
    # A peer that has sent nothing (not even a pong: transport-ws's, or a WebSocket pong
    # for a legacy client) for this long is dead.
    dead_after_s: float = 45.0


@dataclass(frozen=True, slots=True)
class Drain:
    batch: int = 500
    pause_s: float = 0.05
    deadline_s: float = 10.0


class ConnectionHub:
    def __init__(
        self,
        channels: Upstream,
        subject_prefix: str,
        metrics: Metrics,
        *,
        keepalive: KeepAlive = KeepAlive(),
        drain: Drain = Drain(),
        presence: PresencePort | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = channels
        self._prefix = subject_prefix
        self._metrics = metrics
        self._keepalive = keepalive
        self._drain = drain
        self._presence = presence
        self.clock = clock
        self.connections: set[Connection] = set()
        self.by_user: dict[int, set[Connection]] = {}
        self.draining = False
        self.multiplexer: Multiplexer | None = None  # set by the composition root
        self.pusher: Pusher | None = None  # likewise
        self._emptied = asyncio.Event()

    def topic(self, kind: str, key: int) -> str:
        return f"{self._prefix}.{kind}.{key}"

    async def join(self, channel: str, sink: ChannelSinkLike) -> None:
        await self.channels.join(channel, sink)

    async def leave(self, channel: str, sink: ChannelSinkLike) -> None:
        await self.channels.leave(channel, sink)

    def add(self, connection: Connection) -> None:
        self.connections.add(connection)
        # Each socket on its own phase: pinged all at once, 10,000 sockets answer at once,
        # and their pongs held every delivery up for a quarter of a second.
        interval = self._keepalive.ping_interval_s
        connection.next_ping = self.clock() + interval * (0.5 + random.random())

    async def join_users(self, connections: Sequence[Connection]) -> list[BaseException | None]:
        """Authenticated sockets to their users' channels (where revocations reach them),
        together; one outcome each, in order (None: joined)."""
        joins: list[tuple[str, ChannelSinkLike]] = []
        for connection in connections:
            viewer = connection.viewer
            assert viewer is not None, "only an authenticated socket has a user's channel"
            self.by_user.setdefault(viewer.user_id, set()).add(connection)
            joins.append((self.topic("user", viewer.user_id), connection))
        return await self.channels.join_many(joins)

    async def went_online(self, connections: Sequence[Connection]) -> None:
        """Admitted sockets count for their users' presence (a failure is logged: presence
        restores itself at its next heartbeat)."""
        if self._presence is None or not connections:
            return
        sockets = [(c.viewer.user_id, c.id) for c in connections if c.viewer is not None]
        try:
            await self._presence.connected_many(sockets)
        except Exception:
            log.exception("presence update failed")

    async def remove(self, connection: Connection) -> None:
        self.connections.discard(connection)
        if not self.connections:
            self._emptied.set()
        await connection.leave_all()
        viewer = connection.viewer
        if viewer is None or not connection.acked:
            return
        sockets = self.by_user.get(viewer.user_id)
        if sockets is not None:
            sockets.discard(connection)
            if not sockets:
                del self.by_user[viewer.user_id]
        await self.channels.leave(self.topic("user", viewer.user_id), connection)
        if self._presence is not None:
            try:
                await self._presence.disconnected(viewer.user_id, connection.id)
            except Exception:
                log.exception("presence update failed")

    async def sweep(self) -> None:
        """Ping the sockets whose turn it is (idle ones; legacy ones always); close the
        ones whose peer stopped answering. In batches, with the event loop free between
        them."""
        now = self.clock()
        keepalive = self._keepalive
        interval = keepalive.ping_interval_s
        sockets = list(self.connections)
        for start in range(0, len(sockets), SWEEP_BATCH):
            for connection in sockets[start : start + SWEEP_BATCH]:
                if connection.closing is not None or not connection.acked:
                    continue
                silent_for = now - connection.last_seen
                if silent_for >= keepalive.dead_after_s:
                    self._metrics.ws_dead_peers.inc()
                    connection.close(Close.GOING_AWAY, "no pong: peer presumed dead")
                elif now >= connection.next_ping:
                    connection.next_ping = now + interval
                    if silent_for >= interval or connection.dialect.legacy:
                        connection.ping()
            await asyncio.sleep(0)

    async def keep_alive(self) -> None:
        # Often, so that each socket's turn comes close to its phase.
        while True:
            await asyncio.sleep(self._keepalive.ping_interval_s / SWEEPS_PER_INTERVAL)
            await self.sweep()

    async def drain(self) -> None:
        """Refuse new sockets, close the open ones with 1012 in batches (clients reconnect
        elsewhere and resume), and wait for them to go, within the deadline."""
        self.draining = True
        drain = self._drain
        deadline = self.clock() + drain.deadline_s
        pending = list(self.connections)
        log.info("draining sockets", extra={"sockets": len(pending)})
        for start in range(0, len(pending), drain.batch):
            for connection in pending[start : start + drain.batch]:
                connection.close(Close.SERVICE_RESTART, "server restarting")
            if self.clock() >= deadline:
                break
            await asyncio.sleep(drain.pause_s)
        if self.connections:
            self._emptied.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), max(0.0, deadline - self.clock()))


@contextlib.asynccontextmanager
async def hub_running(hub: ConnectionHub) -> AsyncIterator[ConnectionHub]:
    keeper = asyncio.create_task(hub.keep_alive(), name="hub-keepalive")
    try:
        yield hub
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
