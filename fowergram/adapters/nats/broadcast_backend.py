"""Live channels over core NATS: a `broadcaster` backend (it ships none for NATS).

Each channel is a NATS subject with one nats-py subscription; every subscription's
callback appends to ONE bounded backlog that `next_published` reads. The backlog is
bounded on purpose: if its reader (the instance's fan-out) falls behind, the OLDEST
message is dropped, counted and logged, rather than memory growing without bound.
Live pushes are best-effort by design; clients that missed one resume by cursor.

Messages are the NATS payload as received: `bytes`, never decoded (broadcaster types
`Event.message` as str; decoding every payload only for the hub to parse the JSON
again is wasted work, and JSON parsers take bytes).

`subscribe` returns once the server has the subscription (a round trip), so a message
published right after it, from any connection, is received.

Reconnection: over a client that reconnects (ours reconnects for ever), nats-py replays
every live subscription after the server comes back, so channels keep delivering
across a NATS restart; messages published during the outage are lost (core NATS).
A subscribe while disconnected is recorded and sent on reconnection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from functools import partial

import nats.errors
from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.adapters.nats.direct_subscription import subscribe_direct
from fowergram.observability.metrics import Metrics

log = logging.getLogger(__name__)

DEFAULT_MAX_BACKLOG = 10_000
DROP_LOG_INTERVAL_S = 10.0


class RawEvent(Event):
    """broadcaster's Event with the payload as received (bytes, not decoded)."""

    message: bytes  # type: ignore[assignment]  # see the module docstring

    def __init__(self, channel: str, message: bytes) -> None:
        # Not Event.__init__: it only sets these two, and this runs once per message.
        self.channel = channel
        self.message = message


class NatsBackend(BroadcastBackend):
    """Over an existing client (the app's; left open on disconnect) or a URL (then the
    backend owns its connection: `connect` waits, retrying, until NATS answers)."""

    def __init__(
        self,
        connection: NATS | str,
        *,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        confirm_timeout_s: float = 2.0,
        metrics: Metrics | None = None,
        name: str = "fowergram-channels",
    ) -> None:
        if max_backlog < 1:
            raise ValueError("max_backlog must be at least 1")
        self._url = connection if isinstance(connection, str) else None
        self._nc = None if isinstance(connection, str) else connection
        self._name = name
        self._max_backlog = max_backlog
        self._confirm_timeout_s = confirm_timeout_s
        self._subs: dict[str, Subscription] = {}
        self._probe: str | None = None
        self._next_probe: asyncio.Future[Exception | None] | None = None
        self._backlog: deque[RawEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._dropped = 0
        self._dropped_unlogged = 0
        self._last_drop_log = -DROP_LOG_INTERVAL_S
        self._drop_counter = metrics.channel_dropped.labels("backlog") if metrics else None

    @property
    def dropped(self) -> int:
        """Messages dropped (oldest first) because the backlog was full."""
        return self._dropped

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._subs)

    def _client(self) -> NATS:
        if self._nc is None:
            raise RuntimeError("NatsBackend.connect() first")
        return self._nc

    async def connect(self) -> None:
        if self._url is not None and self._nc is None:
            # Reconnects for ever, the first connection included: started while NATS is
            # down, this waits (logging the outage once) until the server answers.
            self._nc = await connect_nats(self._url, name=self._name)

    async def disconnect(self) -> None:
        subs, self._subs = self._subs, {}
        self._next_probe = None
        nc = self._nc
        if nc is None:
            return
        if self._url is not None:
            self._nc, self._probe = None, None
            await close_nats(nc)
            return
        # A shared client stays open: take back only our interest.
        if nc.is_closed or nc.is_draining:
            return
        for sub in subs.values():
            await _unsubscribe(sub)

    async def subscribe(self, channel: str) -> None:
        """Return once the server has the subscription, so that a message published right
        after, from any connection, is received."""
        if channel in self._subs:
            return
        nc = self._client()
        sub = await subscribe_direct(nc, channel, partial(self._received, channel))
        if channel in self._subs:  # a concurrent subscribe of the same channel won
            await _unsubscribe(sub)
            return
        self._subs[channel] = sub
        if not nc.is_connected:
            # nats-py sends it with the others when the connection comes back; waiting
            # for that here would hold the caller for the whole outage.
            log.info("nats channel subscribed while disconnected", extra={"channel": channel})
            return
        await self._confirm(nc, channel)

    async def _confirm(self, nc: NATS, channel: str) -> None:
        # Subscriptions made in the same turn of the event loop share one probe: it is
        # sent after all their SUBs (a reconnect storm subscribes hundreds at once).
        probe = self._next_probe
        if probe is None or probe.done() or probe.get_loop() is not asyncio.get_running_loop():
            # (a probe cancelled, or left by a loop that stopped: not one to wait for)
            probe = self._next_probe = asyncio.ensure_future(self._probe_after_turn(nc))
        try:
            error = await asyncio.shield(probe)
        except asyncio.CancelledError:
            if not probe.cancelled():
                raise  # this subscriber itself was cancelled
            # The probe was (a loop stopping, a disconnect): the SUB stands, unconfirmed.
            error = ConnectionError("subscription probe cancelled")
        if error is not None:
            # Still subscribed (and replayed on reconnection); only unconfirmed.
            log.warning(
                "nats channel subscription unconfirmed",
                extra={"channel": channel, "error": repr(error)},
            )

    async def _probe_after_turn(self, nc: NATS) -> Exception | None:
        """None once the server has processed every SUB written before the probe.

        Not nc.flush(): nats-py (2.16) writes its PING straight to the socket while the
        SUB still waits in the write buffer for the flusher task, so the PONG can come
        back before the server has the SUB (tests/test_channels.py caught it). A request
        goes through that buffer after the SUB, and the server answers "no responders"
        only once it has processed everything before it on this connection."""
        try:
            await asyncio.sleep(0)  # the rest of this turn's subscribers join
        finally:
            if self._next_probe is asyncio.current_task():
                self._next_probe = None  # later SUBs are not covered by this probe
        if self._probe is None:
            self._probe = nc.new_inbox()  # a subject nobody subscribes to
        try:
            await nc.request(self._probe, timeout=self._confirm_timeout_s)
        except nats.errors.NoRespondersError:
            return None  # the expected answer
        except (nats.errors.Error, TimeoutError) as exc:
            return exc
        return None

    async def unsubscribe(self, channel: str) -> None:
        sub = self._subs.pop(channel, None)
        if sub is not None:
            await _unsubscribe(sub)

    async def publish(self, channel: str, message: str | bytes) -> None:
        payload = message.encode() if isinstance(message, str) else message
        await self._client().publish(channel, payload)

    async def next_published(self) -> Event:
        backlog = self._backlog
        while not backlog:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return backlog.popleft()

    def _received(self, channel: str, msg: Msg) -> None:
        # The event names the channel subscribed, not msg.subject, so that a wildcard
        # channel reaches the sinks that joined it.
        backlog = self._backlog
        if len(backlog) >= self._max_backlog:
            backlog.popleft()
            self._count_drop()
        backlog.append(RawEvent(channel, msg.data))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _count_drop(self) -> None:
        self._dropped += 1
        self._dropped_unlogged += 1
        if self._drop_counter is not None:
            self._drop_counter.inc()
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL_S:  # one line per interval
            log.warning(
                "live channel backlog full: dropped the oldest messages",
                extra={
                    "dropped": self._dropped_unlogged,
                    "dropped_total": self._dropped,
                    "max_backlog": self._max_backlog,
                },
            )
            self._last_drop_log = now
            self._dropped_unlogged = 0


async def _unsubscribe(sub: Subscription) -> None:
    try:
        await sub.unsubscribe()
    except nats.errors.Error as exc:
        # Closed or draining connection: the server has forgotten it already.
        log.debug("nats channel unsubscribe skipped", extra={"error": repr(exc)})
