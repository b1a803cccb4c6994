"""Part of the composition root: the presence service, its tracker and the tracker's keeper."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from nats.aio.client import Client as NATS
from redis.asyncio import Redis

from fowergram.adapters.nats.presence_events import NatsPresenceEvents
from fowergram.adapters.postgres.presence_audience import PostgresPresenceAudience
from fowergram.adapters.redis.presence import RedisPresence
from fowergram.config import Settings
from fowergram.domain.clock import Clock
from fowergram.domain.presence_service import PresenceService
from fowergram.observability.metrics import Metrics
from fowergram.realtime.presence_keeper import PresenceOptions, PresenceTracker, presence_keeping


def presence_tracker(
    settings: Settings, redis: Redis, nats: NATS, clock: Clock, metrics: Metrics | None = None
) -> PresenceTracker:
    return PresenceTracker(
        RedisPresence(redis, key_prefix=settings.redis_key_prefix),
        NatsPresenceEvents(nats, subject_prefix=settings.nats_subject_prefix),
        clock,
        PresenceOptions(
            heartbeat_s=settings.presence_heartbeat_s,
            instance_ttl_s=settings.presence_instance_ttl_s,
        ),
        on_local_users=metrics.presence_local_users.set if metrics else lambda _: None,
    )


@contextlib.asynccontextmanager
async def open_presence(
    settings: Settings,
    db: asyncpg.Pool,
    redis: Redis,
    nats: NATS,
    clock: Clock,
    metrics: Metrics,
) -> AsyncIterator[PresenceService]:
    """The presence service; its tracker beats and sweeps until exit, then the sockets
    still open here go offline. `services.presence.tracker` is what the hub reports to."""
    tracker = presence_tracker(settings, redis, nats, clock, metrics)
    async with presence_keeping(tracker):
        yield PresenceService(tracker=tracker, audience=PostgresPresenceAudience(db))
