"""Building the connection hub and its socket endpoint from the settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection

import asyncpg
from nats.aio.client import Client as NATS

from fowergram.adapters.nats.broadcast_backend import NatsBackend
from fowergram.adapters.postgres.relationships import PostgresRelationships
from fowergram.config import Settings
from fowergram.graphql.live.notifications import (
    notification_identity,
    notification_value,
    notifications_missed,
)
from fowergram.graphql.live.post_activity import authorize_post_activity
from fowergram.graphql.schema import FowergramSchema
from fowergram.observability.metrics import Metrics
from fowergram.realtime.channels import Channels
from fowergram.realtime.connection import OutboundLimits
from fowergram.realtime.endpoint import SocketOptions
from fowergram.realtime.hub import ConnectionHub, Drain, KeepAlive, PresencePort, hub_running
from fowergram.realtime.multiplex import Authorize, HiddenFrom, Multiplexer
from fowergram.realtime.pushed import PushedField, Pusher


def socket_options(settings: Settings) -> SocketOptions:
    origins = [o.strip() for o in settings.ws_allowed_origins.split(",") if o.strip()]
    return SocketOptions(
        init_timeout_s=settings.ws_connection_init_timeout_s,
        max_operations=settings.ws_max_subscriptions,
        allowed_origins=frozenset(origins),
        limits=OutboundLimits(
            max_frames=settings.ws_outbound_max_frames,
            max_bytes=settings.ws_outbound_max_bytes,
            feed_frames=settings.ws_outbound_max_frames,
        ),
    )


def hidden_by_blocks(relationships: PostgresRelationships) -> HiddenFrom:
    """Which viewers must not see what `actor` did: a block either way."""

    async def hidden(actor: int, viewers: Collection[int]) -> set[int]:
        between = await relationships.between(actor, list(viewers))
        return {viewer for viewer, r in between.items() if r.blocking or r.blocked_by}

    return hidden


# Root subscription fields answered per event without an execution (realtime/pushed.py).
PUSHED: dict[str, PushedField] = {
    "notifications": PushedField(
        "notification", notification_value, notifications_missed, notification_identity
    ),
}

# Root subscription fields whose result does not depend on the viewer, with the check
# each socket passes (as its own viewer) before it joins the shared execution.
SHAREABLE: dict[str, Authorize] = {"postActivity": authorize_post_activity}


@contextlib.asynccontextmanager
async def open_hub(
    settings: Settings,
    metrics: Metrics,
    nats: NATS,
    schema: FowergramSchema,
    db: asyncpg.Pool,
    presence: PresencePort | None = None,
) -> AsyncIterator[ConnectionHub]:
    """The hub over this instance's channels; runs its keep-alive until exit."""
    backend = NatsBackend(nats, metrics=metrics)
    async with Channels(backend, metrics=metrics) as channels:
        hub = ConnectionHub(
            channels,
            settings.nats_subject_prefix,
            metrics,
            keepalive=KeepAlive(
                ping_interval_s=settings.ws_ping_interval_s, dead_after_s=settings.ws_dead_peer_s
            ),
            drain=Drain(batch=settings.ws_drain_batch, deadline_s=settings.ws_drain_deadline_s),
            presence=presence,
        )
        hub.pusher = Pusher(schema, PUSHED)
        hub.multiplexer = Multiplexer(
            schema, hub, SHAREABLE, hidden_by_blocks(PostgresRelationships(db))
        )
        async with hub_running(hub):
            yield hub
