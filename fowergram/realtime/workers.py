"""The durable consumers by name, and how to run some of them in this process.

Servers run them all in-process (CONSUMERS_ENABLED); `fowergram worker <name>` runs one
alone and `fowergram worker consumers` all of them. Each name is also the JetStream
durable consumer's name, so instances running the same name share its work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client as NATS

from fowergram.adapters.nats.durable_consumer import DurableEventConsumer
from fowergram.adapters.nats.live_channel import NatsLiveChannel
from fowergram.adapters.nats.post_channel import NatsPostChannel
from fowergram.adapters.postgres.notification_audience import PostgresAudiences
from fowergram.adapters.postgres.notification_facts import PostgresEventFacts
from fowergram.adapters.postgres.notifications import PostgresNotifications
from fowergram.adapters.postgres.post_activity import PostgresPostActivity
from fowergram.config import Settings
from fowergram.domain.notifications.recorder import NotificationRecorder
from fowergram.domain.social.post_activity import PostActivityPublisher
from fowergram.observability.metrics import Metrics
from fowergram.realtime.consumers import Consumer, ConsumerOptions, EventHandler, consuming


@dataclass(frozen=True, slots=True)
class WorkerResources:
    """What a handler may be built from: the worker's settings, clients and metrics."""

    settings: Settings
    db: asyncpg.Pool
    nats: NATS
    metrics: Metrics


ConsumerFactory = Callable[[WorkerResources], EventHandler]


# name -> factory of its handler (names: [A-Za-z0-9_-]; renaming one starts a new consumer
# at the stream's first event).
def notification_recorder(resources: WorkerResources) -> EventHandler:
    return NotificationRecorder(
        store=PostgresNotifications(resources.db),
        facts=PostgresEventFacts(resources.db),
        audiences=PostgresAudiences(resources.db),
        live=NatsLiveChannel(resources.nats, subject_prefix=resources.settings.nats_subject_prefix),
    )


# name -> factory of its handler (names: [A-Za-z0-9_-]; renaming one starts a new consumer
# at the stream's first event).
CONSUMERS: dict[str, ConsumerFactory] = {"notifications": notification_recorder}


def post_activity_publisher(resources: WorkerResources) -> EventHandler:
    return PostActivityPublisher(
        reads=PostgresPostActivity(resources.db),
        channel=NatsPostChannel(
            resources.nats, subject_prefix=resources.settings.nats_subject_prefix
        ),
    )


CONSUMERS["post_activity"] = post_activity_publisher


class UnknownConsumer(LookupError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        choices = ", ".join(sorted(known)) or "none registered"
        super().__init__(f"no consumer named {name!r} (choices: {choices})")


def consumer_options(settings: Settings) -> ConsumerOptions:
    return ConsumerOptions(
        max_deliver=settings.consumer_max_deliver, ack_wait_s=settings.consumer_ack_wait_s
    )


@contextlib.asynccontextmanager
async def open_consumers(
    settings: Settings,
    metrics: Metrics,
    nats: NATS,
    db: asyncpg.Pool,
    names: Iterable[str] | None = None,
    *,
    registry: Mapping[str, ConsumerFactory] = CONSUMERS,
    options: ConsumerOptions | None = None,
) -> AsyncIterator[dict[str, asyncio.Task[None]]]:
    """Run the named consumers (all registered ones when `names` is None) until exit;
    yields their tasks by name. On exit each finishes the event in hand."""
    chosen = sorted(registry) if names is None else list(dict.fromkeys(names))
    for name in chosen:
        if name not in registry:
            raise UnknownConsumer(name, registry)
    options = options or consumer_options(settings)
    resources = WorkerResources(settings=settings, db=db, nats=nats, metrics=metrics)
    async with contextlib.AsyncExitStack() as stack:
        tasks: dict[str, asyncio.Task[None]] = {}
        for name in chosen:
            consumer = build_consumer(name, registry[name](resources), resources, options)
            tasks[name] = await stack.enter_async_context(consuming(consumer))
        yield tasks


def build_consumer(
    name: str, handler: EventHandler, resources: WorkerResources, options: ConsumerOptions
) -> Consumer:
    settings = resources.settings
    source = DurableEventConsumer(
        resources.nats,
        subject_prefix=settings.nats_subject_prefix,
        name=name,
        kinds=handler.kinds,
        ack_wait_s=options.ack_wait_s,
        stream_max_age_s=settings.outbox_stream_max_age_s,
    )
    return Consumer(name, handler, options, source, resources.metrics)
