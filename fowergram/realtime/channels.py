"""Live channels of one instance: who listens here, and the fan-out to them.

Replaces broadcaster's `Broadcast` while keeping its backend interface. Interest is
reference-counted per channel: the first sink to join a channel subscribes upstream
(once, however many join at the same moment), the last to leave unsubscribes. One
listener task takes each message from the backend and hands it to every sink of its
channel synchronously: no task and no queue per sink (broadcaster's per-subscriber
queue is unbounded); each sink bounds its own buffer and decides what a slow consumer
costs. Per sink this holds one set entry.

Messages pass through untouched: `bytes` from our NATS backend (payloads are not
decoded), `str` from broadcaster's own backends; JSON parsers take either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Protocol

from broadcaster._backends.base import BroadcastBackend

from fowergram.observability.metrics import Metrics

log = logging.getLogger(__name__)

LISTENER_RETRY_S = 0.5
# The listener yields to the event loop after about this many deliveries: a backlog is
# taken without suspending (next_published returns at once), which would otherwise hold
# the loop (sockets, pings) for as long as the backlog lasts. ~0.1-0.2 ms of work.
YIELD_EVERY = 1_000


class ChannelSink(Protocol):
    def deliver(self, channel: str, message: str | bytes) -> None:
        """Called on the listener task: must not block or await; the sink bounds its
        own buffer (and may, say, mark its connection slow and close it later)."""


class Channels:
    def __init__(self, backend: BroadcastBackend, *, metrics: Metrics | None = None) -> None:
        self._backend = backend
        self._metrics = metrics
        self._sinks: dict[str, set[ChannelSink]] = {}  # wanted: the channels with interest
        self._upstream: set[str] = set()  # had: subscribed upstream (confirmed)
        self._syncing: dict[str, asyncio.Task[None]] = {}  # at most one change per channel
        self._listener: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Channels:
        await self._backend.connect()
        self._listener = asyncio.create_task(self._listen(), name="channels-listener")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks = [t for t in (self._listener, *self._syncing.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._listener = None
        if self._metrics is not None:
            self._metrics.channel_subscriptions.dec(len(self._upstream))
        self._upstream.clear()
        self._sinks.clear()
        await self._backend.disconnect()

    def interest(self, channel: str) -> int:
        return len(self._sinks.get(channel, ()))

    @property
    def upstream(self) -> frozenset[str]:
        """Channels subscribed upstream now."""
        return frozenset(self._upstream)

    async def join(self, channel: str, sink: ChannelSink) -> None:
        """Return once `channel` is subscribed upstream: a message published after this
        returns reaches `sink`. On failure (or cancellation) the sink is not joined."""
        sinks = self._sinks.get(channel)
        if sinks is not None and channel in self._upstream and channel not in self._syncing:
            sinks.add(sink)
            return  # the common case: no upstream change, nothing to wait for
        (error,) = await self.join_many([(channel, sink)])
        if error is not None:
            raise error

    async def join_many(
        self, joins: Sequence[tuple[str, ChannelSink]]
    ) -> list[BaseException | None]:
        """`join` for each (channel, sink), together: the channels that need an upstream
        change are changed at once (their subscriptions confirmed together). One outcome
        each, in order: None once joined; else the failure, and that sink is not joined.
        Cancelled: none is joined."""
        wanted: dict[str, list[ChannelSink]] = {}
        for channel, sink in joins:
            self._sinks.setdefault(channel, set()).add(sink)
            wanted.setdefault(channel, []).append(sink)
        failed: dict[str, BaseException] = {}
        unsettled: Iterable[str] = wanted
        try:
            while changing := {
                channel: task
                for channel in unsettled
                if (task := self._start_sync(channel)) is not None
            }:
                # Not cancelled with the caller, as `_settle`'s shield: no half-made change.
                await asyncio.wait(changing.values())
                for channel, task in changing.items():
                    error = asyncio.CancelledError() if task.cancelled() else task.exception()
                    if error is not None:
                        failed[channel] = error
                unsettled = [channel for channel in changing if channel not in failed]
        except BaseException:
            failed = dict.fromkeys(wanted, asyncio.CancelledError())
            raise
        finally:
            for channel in failed:
                for sink in wanted[channel]:
                    self._remove(channel, sink)
                self._start_sync(channel)  # may have been the last: unsubscribe
        return [failed.get(channel) for channel, _ in joins]

    async def leave(self, channel: str, sink: ChannelSink) -> None:
        """No delivery to `sink` once called. The last sink out waits for the upstream
        unsubscribe; its failure is logged, not raised (the subscription then lingers,
        unused, until the channel's next change)."""
        if not self._remove(channel, sink) or channel in self._sinks:
            return
        try:
            await self._settle(channel)
        except Exception:
            log.exception("channel unsubscribe failed", extra={"channel": channel})

    async def publish(self, channel: str, message: str | bytes) -> None:
        await self._backend.publish(channel, message)

    def _remove(self, channel: str, sink: ChannelSink) -> bool:
        sinks = self._sinks.get(channel)
        if sinks is None or sink not in sinks:
            return False
        sinks.discard(sink)
        if not sinks:
            del self._sinks[channel]
        return True

    async def _settle(self, channel: str) -> None:
        """Wait until the upstream state of `channel` matches its interest (a leave's wait;
        joins wait in `join_many`). One task per channel makes the changes (so concurrent
        joins subscribe once, and a join racing a leave is seen by the task's loop);
        shielded, so a cancelled caller does not leave a half-made change behind."""
        while True:
            task = self._start_sync(channel)
            if task is None:
                return
            await asyncio.shield(task)

    def _start_sync(self, channel: str) -> asyncio.Task[None] | None:
        task = self._syncing.get(channel)
        if task is None and (channel in self._sinks) != (channel in self._upstream):
            task = asyncio.create_task(self._sync(channel), name=f"channel-sync {channel}")
            task.add_done_callback(_retrieve)
            self._syncing[channel] = task
        return task

    async def _sync(self, channel: str) -> None:
        gauge = self._metrics.channel_subscriptions if self._metrics else None
        try:
            while (wanted := channel in self._sinks) != (channel in self._upstream):
                if wanted:
                    await self._backend.subscribe(channel)
                    self._upstream.add(channel)
                    if gauge is not None:
                        gauge.inc()
                else:
                    # Removed first: a failed unsubscribe is not retried by every leave.
                    self._upstream.discard(channel)
                    if gauge is not None:
                        gauge.dec()
                    await self._backend.unsubscribe(channel)
        finally:
            del self._syncing[channel]

    async def _listen(self) -> None:
        backend = self._backend
        sinks_of = self._sinks
        metrics = self._metrics
        received = metrics.channel_messages if metrics else None
        delivered = metrics.channel_deliveries if metrics else None
        failed = metrics.channel_dropped.labels("sink_error") if metrics else None
        budget = YIELD_EVERY
        while True:
            if budget <= 0:
                budget = YIELD_EVERY
                await asyncio.sleep(0)
            try:
                event = await backend.next_published()
            except Exception:
                log.exception("live channel backend failed; retrying")
                await asyncio.sleep(LISTENER_RETRY_S)
                continue
            if received is not None:
                received.inc()
            budget -= 1
            channel = event.channel
            sinks = sinks_of.get(channel)
            if not sinks:
                continue  # left while the message was on its way
            budget -= len(sinks)
            message: str | bytes = event.message
            failures = 0
            # Iterated in place: join and leave are coroutines, so nothing can change
            # the set while this synchronous loop runs.
            for sink in sinks:
                try:
                    sink.deliver(channel, message)
                except Exception:
                    failures += 1
                    if failures == 1:  # one traceback per message, not per sink
                        log.exception("channel sink failed", extra={"channel": channel})
            if delivered is not None:
                delivered.inc(len(sinks) - failures)
            if failures and failed is not None:
                failed.inc(failures)


def _retrieve(task: asyncio.Task[None]) -> None:
    # Every caller may have been cancelled: read the outcome so that asyncio does not
    # report "exception never retrieved"; the callers log what they see.
    if not task.cancelled():
        task.exception()
