"""The presence tracker: this instance's sockets in the shared store, its heartbeat, and the
sweep that takes dead instances' users offline.

The hub reports sockets (`connected`, `disconnected`); the store (Redis) serialises every
change and hands back the state it found; the domain's pure functions say what it became,
and only real transitions are published. `presence_keeping` beats this instance's
heartbeat and sweeps: any instance whose heartbeat is older than the bound is declared
dead by whichever instance sees it first, and its users are dropped in chunks that each
go to one sweeper only, so each goes offline once.

This instance's own sockets, kept here, are the truth about it: if it lost its
registration (declared dead after a long pause, Redis emptied) or a store call failed,
it comes back under a new instance id with all of them, and the old id is reaped; the
users it still serves see no change, ghosts go offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from fowergram.domain.clock import Clock
from fowergram.domain.presence import (
    HeldSockets,
    PresenceState,
    Socket,
    closed,
    dropped,
    opened,
    presence_of,
    stale_instances,
    transition,
)

log = logging.getLogger(__name__)

# A heartbeat no instance can have beaten since: declares an instance dead whatever its age.
_ALWAYS = datetime(9999, 1, 1, tzinfo=UTC)


class Reaped(Protocol):
    @property
    def last_heartbeat(self) -> datetime: ...
    @property
    def done(self) -> bool: ...
    @property
    def before(self) -> Sequence[HeldSockets]: ...


class PresenceStore(Protocol):
    async def beat(self, instance_id: str, now: datetime, *, first: bool) -> bool: ...
    async def connect_each(
        self, sockets: Sequence[tuple[int, Socket]]
    ) -> Sequence[HeldSockets | Exception | None]:
        """Hold each socket, in one call: each one's outcome, the user's state before (None:
        its instance is not registered, nothing held; an exception: its change alone
        failed)."""
        ...

    async def connect_many(
        self, sockets: Sequence[tuple[int, Socket]]
    ) -> Sequence[HeldSockets | None]: ...
    async def disconnect(self, user_id: int, socket: Socket, now: datetime) -> HeldSockets: ...
    async def heartbeats(self) -> Mapping[str, datetime]: ...
    async def bury(self, instances: Mapping[str, datetime]) -> Sequence[str]: ...
    async def being_reaped(self) -> Mapping[str, datetime]: ...
    async def reap(self, instance_id: str, *, chunk: int) -> Reaped | None: ...
    async def held(self, user_ids: Sequence[int]) -> Mapping[int, HeldSockets]: ...


class PresencePublisher(Protocol):
    async def publish(self, state: PresenceState) -> None: ...


@dataclass(frozen=True, slots=True)
class PresenceOptions:
    heartbeat_s: float = 5.0
    instance_ttl_s: float = 20.0  # a heartbeat older than this: the instance is dead
    chunk: int = 500  # users reaped or restored per round trip

    def __post_init__(self) -> None:
        if self.instance_ttl_s <= self.heartbeat_s:
            raise ValueError("the instance TTL must be longer than the heartbeat interval")


def _to_ms(moment: datetime) -> datetime:
    # The store keeps milliseconds: what is published matches what is read back.
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class PresenceTracker:
    def __init__(
        self,
        store: PresenceStore,
        publisher: PresencePublisher,
        clock: Clock,
        options: PresenceOptions,
        *,
        on_local_users: Callable[[int], None] = lambda _: None,
        new_instance_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._options = options
        self._ttl = timedelta(seconds=options.instance_ttl_s)
        self._on_local_users = on_local_users
        self._new_instance_id = new_instance_id
        self._instance_id = new_instance_id()
        self._registered = False
        self._dirty = False  # the store may disagree with `_local`: come back under a new id
        self._local: dict[int, set[str]] = {}  # user id -> connection ids open here
        self._ready = asyncio.Event()  # cleared while coming back under a new id
        self._ready.set()
        self._failing = False
        self._stop = asyncio.Event()

    @property
    def instance_id(self) -> str:
        return self._instance_id

    @property
    def local_users(self) -> int:
        return len(self._local)

    def _now(self) -> datetime:
        return _to_ms(self._clock.now())

    async def connected(self, user_id: int, connection_id: str) -> None:
        await self._connect_chunk([(user_id, connection_id)])

    async def connected_many(self, sockets: Sequence[tuple[int, str]]) -> None:
        """`connected` for each (user id, connection id), with one store call a chunk."""
        size = self._options.chunk
        for start in range(0, len(sockets), size):
            await self._connect_chunk(sockets[start : start + size])

    async def _connect_chunk(self, sockets: Sequence[tuple[int, str]]) -> None:
        await self._ready.wait()  # not while coming back under a new instance id
        held: list[tuple[int, Socket]] = []
        for user_id, connection_id in sockets:
            self._local.setdefault(user_id, set()).add(connection_id)
            held.append((user_id, Socket(self._instance_id, connection_id)))
        self._on_local_users(len(self._local))
        try:
            outcomes = await self._store.connect_each(held)
        except Exception as exc:
            self._lost(held[0][1], exc)  # one instance: the next beat restores them all
            return
        for (_, socket), before in zip(held, outcomes, strict=True):
            if isinstance(before, Exception):  # this socket's change failed alone
                self._lost(socket, before)
            elif before is None:  # not registered (yet, or any more)
                self._lost(socket, None)
            else:
                await self._changed(before, opened(before, socket))

    async def disconnected(self, user_id: int, connection_id: str) -> None:
        await self._ready.wait()
        connections = self._local.get(user_id)
        if connections is None or connection_id not in connections:
            return
        connections.discard(connection_id)
        if not connections:
            del self._local[user_id]
        self._on_local_users(len(self._local))
        socket, now = Socket(self._instance_id, connection_id), self._now()
        try:
            before = await self._store.disconnect(user_id, socket, now)
        except Exception as exc:
            self._lost(socket, exc)
            return
        await self._changed(before, closed(before, socket, now=now))

    async def snapshot(self, user_ids: Sequence[int]) -> dict[int, PresenceState]:
        held = await self._store.held(user_ids)
        return {user_id: presence_of(held[user_id]) for user_id in user_ids}

    def _lost(self, socket: Socket, error: Exception | None) -> None:
        if socket.instance_id == self._instance_id:  # else: already back under a new id
            self._dirty = True
        if error is not None:
            log.warning("presence not recorded; restoring it", extra={"error": repr(error)})

    async def beat(self) -> None:
        """Beat this instance's heartbeat; come back under a new id if it was declared
        dead meanwhile or the store may have missed a change."""
        alive = await self._store.beat(self._instance_id, self._now(), first=not self._registered)
        if alive and not self._dirty:
            self._registered = True
            return
        await self._come_back()

    async def _come_back(self) -> None:
        old = self._instance_id
        self._ready.clear()  # sockets opening and closing wait: the restore must not race them
        try:
            self._instance_id, self._dirty = self._new_instance_id(), False
            await self._store.beat(self._instance_id, self._now(), first=True)
            self._registered = True
            sockets = [
                (user_id, Socket(self._instance_id, connection_id))
                for user_id, connections in self._local.items()
                for connection_id in connections
            ]
            size = self._options.chunk
            for chunk in (sockets[i : i + size] for i in range(0, len(sockets), size)):
                befores = await self._store.connect_many(chunk)
                for (_, socket), before in zip(chunk, befores, strict=True):
                    if before is not None:
                        await self._changed(before, opened(before, socket))
            await self._store.bury({old: _ALWAYS})
        except Exception:
            self._dirty = True  # try again at the next beat
            raise
        finally:
            self._ready.set()
        log.info("presence restored under a new instance id", extra={"sockets": len(sockets)})
        await self._reap(old)

    async def sweep(self) -> None:
        """Declare dead the instances whose heartbeat is too old, and drop their sockets
        (and those of any that another sweeper left half done)."""
        stale = stale_instances(await self._store.heartbeats(), now=self._now(), ttl=self._ttl)
        buried = await self._store.bury(stale)
        if buried:
            log.info(
                "instances declared dead %s %s",
                stale,
                self._now(),
                extra={"instances": list(buried)},
            )
        for instance_id in await self._store.being_reaped():
            await self._reap(instance_id)

    async def _reap(self, instance_id: str) -> None:
        while (
            reaped := await self._store.reap(instance_id, chunk=self._options.chunk)
        ) is not None:
            for before in reaped.before:
                after = dropped(before, instance_id, last_heartbeat=reaped.last_heartbeat)
                await self._changed(before, after)
            if reaped.done:
                return

    async def keep(self) -> None:
        """Beat and sweep every heartbeat interval, until `stop()`."""
        while not self._stop.is_set():
            try:
                await self.beat()
                await self.sweep()
            except Exception as exc:
                if not self._failing:  # once per outage
                    log.warning("presence heartbeat failed; retrying", extra={"error": repr(exc)})
                self._failing = True
            else:
                if self._failing:
                    log.info("presence heartbeat back")
                self._failing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._options.heartbeat_s)

    def stop(self) -> None:
        """Stop keeping, after the round in hand; nothing is cleared (see `leave`).

        A flag, not cancellation: on Python 3.11 `asyncio.wait_for` (which redis-py uses
        around every socket operation) can swallow a cancellation that lands as the
        operation completes, and the cancelled loop would go on beating."""
        self._stop.set()

    async def leave(self) -> None:
        """Stop being an instance: the sockets still held here go offline now."""
        old, self._registered = self._instance_id, False
        await self._store.bury({old: _ALWAYS})
        await self._reap(old)

    async def _changed(self, before: HeldSockets, after: HeldSockets) -> None:
        change = transition(presence_of(before), presence_of(after))
        if change is None:
            return
        try:
            await self._publisher.publish(change)
        except Exception as exc:  # the store is right; watchers re-read it on reconnecting
            log.warning("presence change not published", extra={"error": repr(exc)})


@contextlib.asynccontextmanager
async def presence_keeping(
    tracker: PresenceTracker, *, stop_timeout_s: float = 10.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Keep `tracker`'s heartbeat and sweep in the background for the block; on exit the
    sockets still open here go offline (a crash leaves that to the other instances)."""
    task = asyncio.create_task(tracker.keep(), name="presence-keeper")
    try:
        yield task
    finally:
        tracker.stop()
        done, _ = await asyncio.wait([task], timeout=stop_timeout_s)
        if not done:
            log.warning("presence keeper did not stop in time; cancelled")
            task.cancel()
        try:
            await asyncio.wait_for(tracker.leave(), stop_timeout_s)
        except Exception as exc:
            log.warning("presence not cleared on leaving", extra={"error": repr(exc)})
