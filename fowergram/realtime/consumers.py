"""Durable event consumers: the stream's events to a handler, each settled exactly once.

A `Consumer` fetches a batch from its source, hands the events to its handler in stream
order and acknowledges each on success. A handler that names a lane per event has the
batch's lanes handled concurrently (each lane's events one at a time, in order): handling
is mostly waiting for PostgreSQL, and one event at a time fell ever further behind the
writes under load. A handler without lanes gets its events strictly one at a time.
A failure is retried after a growing delay while later events go on (a failing event
never blocks the stream); after `max_deliver` deliveries it is dead-lettered and
terminated, as is a message that cannot be decoded at all. Handlers must be idempotent:
a crash before an acknowledgement is delivered again. NATS outages are waited out with
back-off, logged once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fowergram.domain.events import RecordedEvent
from fowergram.observability.metrics import Metrics
from fowergram.realtime.outbox_relay import Backoff

log = logging.getLogger(__name__)

CONSUMER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a JetStream durable name, a subject token
ERROR_TEXT_MAX = 500
OUTAGE_BACKOFF = Backoff(base_s=0.2, cap_s=5.0)  # between attempts while NATS is away


class EventHandler(Protocol):
    kinds: frozenset[str]  # the event kinds it wants, e.g. {"post.liked", "user.followed"}

    async def handle(self, event: RecordedEvent) -> None:
        """Apply `event` idempotently; raise to have it retried."""


@runtime_checkable
class LanedHandler(EventHandler, Protocol):
    def lane(self, event: RecordedEvent) -> Hashable:
        """Events of one lane are handled one at a time in stream order; different lanes
        at once. Events whose effects meet (the same notification group, the same post's
        live counts) must share a lane."""


class Delivery(Protocol):
    """One delivery of a stream message, settled by exactly one of ack/retry/dead_letter."""

    @property
    def deliveries(self) -> int:
        """How many times the message has been delivered, this time included (>= 1)."""

    def event(self) -> RecordedEvent:
        """The decoded event; any exception means the message cannot be decoded."""

    async def ack(self) -> None: ...

    async def retry(self, delay_s: float) -> None:
        """Have the message delivered again after `delay_s`."""

    async def keep_alive(self) -> None:
        """Still in hand: restart the acknowledgement timer."""

    async def dead_letter(self, error: str, event_id: int | None) -> None:
        """Store the message in the dead-letter stream, then stop its redelivery."""


class EventSource(Protocol):
    async def open(self) -> None:
        """Make sure the streams and the durable consumer exist; raise when unreachable."""

    async def fetch(self, batch: int, wait_s: float) -> Sequence[Delivery]:
        """Up to `batch` deliveries, oldest first; [] when none came within `wait_s`."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    max_deliver: int = 5
    ack_wait_s: float = 30.0
    batch: int = 50
    lanes: int = 32  # lanes of a batch handled at once (a laned handler's only)
    retry_delays_s: tuple[float, ...] = (0.5, 2, 10, 30)
    fetch_wait_s: float = 5.0  # a pull waits this long for new events, then pulls again
    backoff: Backoff = OUTAGE_BACKOFF

    def __post_init__(self) -> None:
        if not 1 <= self.max_deliver <= 100:
            raise ValueError("max_deliver must be between 1 and 100")
        if self.ack_wait_s <= 0 or self.fetch_wait_s <= 0 or self.batch < 1 or self.lanes < 1:
            raise ValueError(
                "ack_wait_s and fetch_wait_s must be positive, batch and lanes at least 1"
            )
        if not self.retry_delays_s or min(self.retry_delays_s) < 0:
            raise ValueError("retry_delays_s must list at least one delay, none negative")

    def retry_delay(self, deliveries: int) -> float:
        """The wait before the next delivery after the `deliveries`-th failed; the last
        delay repeats."""
        return float(self.retry_delays_s[min(deliveries, len(self.retry_delays_s)) - 1])


class Consumer:
    def __init__(
        self,
        name: str,
        handler: EventHandler,
        options: ConsumerOptions,
        source: EventSource,
        metrics: Metrics,
    ) -> None:
        if not CONSUMER_NAME.fullmatch(name):
            raise ValueError(f"consumer names are 1-64 of [A-Za-z0-9_-]: {name!r}")
        if not handler.kinds:
            raise ValueError(f"consumer {name} handles no event kinds")
        self.name = name
        self._handler = handler
        self._options = options
        self._source = source
        self._metrics = metrics
        self._stop = asyncio.Event()
        self._in_hand: dict[int, Delivery] = {}  # by id(): settled ones leave at once
        self._lane = handler.lane if isinstance(handler, LanedHandler) else None

    async def run(self) -> None:
        """Consume until `stop()` (the event in hand is finished) or cancellation."""
        log.info("consumer started", extra={"consumer": self.name})
        keep_alive = asyncio.create_task(self._keep_alive(), name=f"consumer-{self.name}-alive")
        try:
            await self._consume()
        finally:
            keep_alive.cancel()
            with contextlib.suppress(Exception):
                await self._source.close()
            log.info("consumer stopped", extra={"consumer": self.name})

    def stop(self) -> None:
        self._stop.set()

    async def _consume(self) -> None:
        failures, opened = 0, False
        while not self._stop.is_set():
            try:
                if not opened:
                    await self._source.open()
                    opened = True
                deliveries = await self._fetch()
                await self._handle_batch(deliveries)
            except Exception as exc:
                failures += 1
                opened = False  # the consumer or the streams may be gone (NATS lost its store)
                if failures == 1:  # once per outage
                    log.warning(
                        "consumer cannot reach the stream; retrying",
                        extra={"consumer": self.name, "error": repr(exc)},
                    )
                await self._sleep(self._options.backoff.delay(failures, random.random()))
                continue
            if failures:
                log.info("consumer reaching the stream again", extra={"consumer": self.name})
                failures = 0

    async def _fetch(self) -> Sequence[Delivery]:
        """A batch, or [] as soon as `stop()` is called."""
        fetch = asyncio.create_task(
            self._source.fetch(self._options.batch, self._options.fetch_wait_s)
        )
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([fetch, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not fetch.done():
                # Whatever the cancelled pull still brings is redelivered after ack_wait.
                fetch.cancel()
                await asyncio.gather(fetch, return_exceptions=True)
        return [] if fetch.cancelled() else fetch.result()

    async def _handle_batch(self, deliveries: Sequence[Delivery]) -> None:
        self._in_hand = {id(delivery): delivery for delivery in deliveries}
        try:
            lanes = self._lanes(deliveries)
            if len(lanes) == 1:
                await self._handle_lane(lanes[0])
            else:
                slots = asyncio.Semaphore(self._options.lanes)
                async with asyncio.TaskGroup() as group:
                    for lane in lanes:
                        group.create_task(self._handle_lane(lane, slots))
        finally:
            self._in_hand = {}

    def _lanes(self, deliveries: Sequence[Delivery]) -> list[list[Delivery]]:
        """The batch split into lanes, each in stream order; one lane for a handler
        without lanes. A message that cannot be decoded (it is only set aside) shares the
        lane of events whose lane is None."""
        if self._lane is None or len(deliveries) < 2:
            return [list(deliveries)]
        lanes: dict[Hashable, list[Delivery]] = {}
        for delivery in deliveries:
            try:
                key = self._lane(delivery.event())
            except Exception:
                key = None
            lanes.setdefault(key, []).append(delivery)
        return list(lanes.values())

    async def _handle_lane(
        self, lane: list[Delivery], slots: asyncio.Semaphore | None = None
    ) -> None:
        async with slots or contextlib.nullcontext():
            for delivery in lane:
                if self._stop.is_set():  # stopping: another instance may take them now
                    await delivery.retry(0)
                else:
                    await self._handle(delivery)
                self._in_hand.pop(id(delivery), None)

    async def _handle(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        deliveries, max_deliver = delivery.deliveries, self._options.max_deliver
        try:
            event = delivery.event()
        except Exception as exc:
            await self._dead_letter(delivery, f"undecodable: {exc!r}", None, deliveries)
            return
        if deliveries > max_deliver:
            # The last allowed delivery was never settled (a crash, or the dead letter
            # could not be written): dead-letter it now rather than try it once more.
            error = f"unsettled after {max_deliver} deliveries"
            await self._dead_letter(delivery, error, event, deliveries)
            return
        if event.kind not in self._handler.kinds:
            await delivery.ack()  # filtered out by the stream; only if the kinds just changed
            return
        try:
            await self._handler.handle(event)
        except Exception as exc:
            if deliveries >= max_deliver:
                await self._dead_letter(delivery, repr(exc), event, deliveries)
            else:
                delay = self._options.retry_delay(deliveries)
                log.warning(
                    "event handling failed; will retry",
                    extra=self._about(event, deliveries, error=repr(exc), retry_in_s=delay),
                )
                await delivery.retry(delay)
                self._count("retried")
        else:
            await delivery.ack()
            self._count("ok")
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.consumer_handle_latency.labels(self.name).observe(elapsed)

    async def _dead_letter(
        self,
        delivery: Delivery,
        error: str,
        event: RecordedEvent | None,
        deliveries: int,
    ) -> None:
        error = error[:ERROR_TEXT_MAX]
        await delivery.dead_letter(error, event.id if event else None)
        self._count("dead_lettered")
        log.error("event dead-lettered", extra=self._about(event, deliveries, error=error))

    def _about(
        self, event: RecordedEvent | None, deliveries: int, **more: object
    ) -> dict[str, object]:
        about: dict[str, object] = {"consumer": self.name, "deliveries": deliveries, **more}
        if event is not None:
            about |= {"event_id": event.id, "event_kind": event.kind}
        return about

    def _count(self, outcome: str) -> None:
        self._metrics.consumer_events.labels(self.name, outcome).inc()

    async def _keep_alive(self) -> None:
        """Events waiting in a batch are still ours: tell the stream before ack_wait ends,
        so that a slow batch is not delivered a second time meanwhile."""
        while True:
            await asyncio.sleep(self._options.ack_wait_s / 3)
            for delivery in list(self._in_hand.values()):
                try:
                    await delivery.keep_alive()
                except Exception as exc:  # settled meanwhile, or NATS is away
                    log.debug("keep-alive not sent", extra={"error": repr(exc)})

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)


@contextlib.asynccontextmanager
async def consuming(
    consumer: Consumer, *, stop_timeout_s: float = 10.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Run `consumer` in the background for the block; on exit let it finish its event."""
    task = asyncio.create_task(consumer.run(), name=f"consumer-{consumer.name}")
    try:
        yield task
    finally:
        consumer.stop()
        try:
            await asyncio.wait_for(task, stop_timeout_s)
        except TimeoutError:
            log.warning(
                "consumer did not stop in time; cancelled", extra={"consumer": consumer.name}
            )
