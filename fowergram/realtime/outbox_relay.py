"""The outbox relay: committed outbox rows to the event stream, in id order, none lost.

Woken by the database when rows commit while it sleeps (awake, it looks every
`awake_poll_s` itself; polling is the fallback), it claims a batch,
sends its events and waits for their acknowledgements, then marks the acknowledged
ones up to the first that was not. That failure is recorded on its row, later ones
wait (keeping the order), and the relay backs off. Rows are settled only after their
acknowledgement, so a crash re-publishes a few, which the stream discards by message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from fowergram.domain.events import RecordedEvent
from fowergram.observability.metrics import Metrics

log = logging.getLogger(__name__)


class ClaimedBatch(Protocol):
    @property
    def events(self) -> Sequence[RecordedEvent]: ...

    async def settle(self, published: Sequence[int], failure: tuple[int, str] | None) -> None:
        """Mark `published` sent; record `failure` (event id, error) on its row."""


class OutboxQueue(Protocol):
    def claim(self, limit: int) -> AbstractAsyncContextManager[ClaimedBatch]: ...

    async def oldest_unpublished_age_s(self) -> float | None: ...


class EventPublisher(Protocol):
    async def ensure_stream(self) -> None: ...

    async def publish_all(self, events: Sequence[RecordedEvent]) -> list[Exception | None]:
        """Send `events` and wait for the stream's acknowledgements: one outcome per
        event, in order (None: stored); raise when none could be sent."""


class Wakeups(Protocol):
    async def run(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever new rows may have committed (while asleep), and after
        every reconnection, until cancelled."""

    async def asleep(self, asleep: bool) -> bool:
        """Ask writers to notify on commit (True) or spare them that (False): a
        notification per write makes writing transactions commit one at a time.
        False when it could not be asked (not listening)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 0.1
    cap_s: float = 5.0

    def delay(self, failures: int, jitter: float) -> float:
        """Capped exponential back-off after `failures` (>= 1) in a row; `jitter` in [0, 1)
        spreads the upper half so that several relays do not retry in step."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(failures - 1, 30))
        return ceiling / 2 + ceiling / 2 * jitter


@dataclass(frozen=True, slots=True)
class RelayOptions:
    batch_size: int = 100
    poll_interval_s: float = 1.0
    lag_sample_interval_s: float = 5.0
    backoff: Backoff = Backoff()
    # Awake (rows found within `awake_for_s`), the relay looks every `awake_poll_s`
    # itself and writers do not notify; then it asks for notifications and sleeps.
    awake_poll_s: float = 0.01
    awake_for_s: float = 0.25


class OutboxRelay:
    def __init__(
        self,
        queue: OutboxQueue,
        publisher: EventPublisher,
        wakeups: Wakeups,
        metrics: Metrics,
        options: RelayOptions,
    ) -> None:
        self._queue = queue
        self._publisher = publisher
        self._wakeups = wakeups
        self._metrics = metrics
        self._options = options
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._stream_ready = False

    async def run(self) -> None:
        """Relay until `stop()`; the batch in hand is finished first."""
        helpers = [
            asyncio.create_task(self._wakeups.run(self._wake.set), name="outbox-listener"),
            asyncio.create_task(self._sample_lag(), name="outbox-lag"),
        ]
        log.info("outbox relay started")
        try:
            await self._relay()
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            log.info("outbox relay stopped")

    def stop(self) -> None:
        self._stop.set()

    async def _relay(self) -> None:
        failures = 0
        asleep = False  # writers were asked to notify
        awake_until = float("-inf")
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            self._wake.clear()  # a commit from now on wakes the next round
            try:
                published = await self._drain()
            except Exception as exc:
                failures += 1
                self._stream_ready = False  # the stream may be gone (NATS lost its store)
                if failures == 1:  # once per outage; the rows carry every attempt
                    log.warning("outbox relay cannot publish; retrying", extra={"error": repr(exc)})
                delay = self._options.backoff.delay(failures, random.random())
                await self._sleep(delay, wake_on_commit=False)
                continue
            if failures:
                log.info("outbox relay publishing again", extra={"failed_rounds": failures})
                failures = 0
            if published:
                awake_until = loop.time() + self._options.awake_for_s
                if asleep:
                    asleep = False
                    await self._ask_for_wakeups(False)
            if loop.time() < awake_until:
                await self._sleep(self._options.awake_poll_s, wake_on_commit=True)
                continue
            # Asked again on every round asleep: a reconnected listener is a new session.
            await self._ask_for_wakeups(True)
            if not asleep:
                # One more look in a moment: a write whose trigger ran before the request
                # was visible did not notify (one still open by then waits for the poll).
                asleep = True
                await self._sleep(self._options.awake_poll_s, wake_on_commit=True)
                continue
            await self._sleep(self._options.poll_interval_s, wake_on_commit=True)

    async def _ask_for_wakeups(self, asleep: bool) -> None:
        try:
            await self._wakeups.asleep(asleep)
        except Exception as exc:  # polling still finds the rows
            log.warning("outbox relay cannot ask for wake-ups", extra={"error": repr(exc)})

    async def _drain(self) -> int:
        """Publish batches until none is left, and say how many events went out; raise at
        the first failure."""
        if not self._stream_ready:
            await self._publisher.ensure_stream()
            self._stream_ready = True
        size = self._options.batch_size
        total = 0
        while not self._stop.is_set():
            async with self._queue.claim(size) as batch:
                published, failure = await self._publish(batch.events)
                await batch.settle(published, failure)
            for event in batch.events[: len(published)]:
                self._metrics.outbox_published.labels(event.kind).inc()
            total += len(published)
            if failure is not None:
                self._metrics.outbox_publish_failures.inc()
                raise PublishFailed(*failure)
            if len(batch.events) < size:
                return total
        return total

    async def _publish(
        self, events: Sequence[RecordedEvent]
    ) -> tuple[list[int], tuple[int, str] | None]:
        if not events:
            return [], None
        try:
            outcomes = await self._publisher.publish_all(events)
        except Exception as exc:
            return [], (events[0].id, repr(exc))
        published: list[int] = []
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome is not None:
                return published, (event.id, repr(outcome))
            published.append(event.id)
        return published, None

    async def _sleep(self, seconds: float, *, wake_on_commit: bool) -> None:
        events = [self._stop, self._wake] if wake_on_commit else [self._stop]
        waiters = [asyncio.create_task(event.wait()) for event in events]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _sample_lag(self) -> None:
        while True:
            try:
                age = await self._queue.oldest_unpublished_age_s()
            except Exception as exc:
                log.debug("outbox lag not sampled", extra={"error": repr(exc)})
            else:
                self._metrics.outbox_lag.set(age or 0.0)
            await asyncio.sleep(self._options.lag_sample_interval_s)


class PublishFailed(Exception):
    def __init__(self, event_id: int, error: str) -> None:
        super().__init__(f"event {event_id}: {error}")
        self.event_id = event_id


@contextlib.asynccontextmanager
async def relaying(
    relay: OutboxRelay, *, stop_timeout_s: float = 10.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Run `relay` in the background for the block; on exit let it finish its batch."""
    task = asyncio.create_task(relay.run(), name="outbox-relay")
    try:
        yield task
    finally:
        relay.stop()
        try:
            await asyncio.wait_for(task, stop_timeout_s)
        except TimeoutError:
            log.warning("outbox relay did not stop in time; cancelled")
