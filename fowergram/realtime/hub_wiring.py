"""Building the connection hub and its socket endpoint from the settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection

import asyncpg
import strawberry
from nats.aio.client import Client as NATS

from fowergram.adapters.nats.broadcast_backend import NatsBackend
from fowergram.adapters.postgres.relationships import PostgresRelationships
from fowergram.config import Settings
from fowergram.graphql.live.post_activity import authorize_post_activity
from fowergram.observability.metrics import Metrics
from fowergram.realtime.channels import Channels
from fowergram.realtime.connection import OutboundLimits
from fowergram.realtime.endpoint import SocketEndpoint, SocketOptions
from fowergram.realtime.hub import ConnectionHub, Drain, KeepAlive, PresencePort, hub_running
from fowergram.realtime.multiplex import Authorize, HiddenFrom, Multiplexer


def socket_endpoint(
    schema: strawberry.Schema, settings: Settings, metrics: Metrics
) -> SocketEndpoint:
    origins = [o.strip() for o in settings.ws_allowed_origins.split(",") if o.strip()]
    options = SocketOptions(
        init_timeout_s=settings.ws_connection_init_timeout_s,
        max_operations=settings.ws_max_subscriptions,
        allowed_origins=frozenset(origins),
        limits=OutboundLimits(
            max_frames=settings.ws_outbound_max_frames,
            max_bytes=settings.ws_outbound_max_bytes,
            feed_frames=settings.ws_outbound_max_frames,
        ),
    )
    return SocketEndpoint(schema, options, metrics)


def hidden_by_blocks(relationships: PostgresRelationships) -> HiddenFrom:
    """Which viewers must not see what `actor` did: a block either way."""

    async def hidden(actor: int, viewers: Collection[int]) -> set[int]:
        between = await relationships.between(actor, list(viewers))
        return {viewer for viewer, r in between.items() if r.blocking or r.blocked_by}

    return hidden


# Root subscription fields whose result does not depend on the viewer, with the check
# each socket passes (as its own viewer) before it joins the shared execution.
SHAREABLE: dict[str, Authorize] = {"postActivity": authorize_post_activity}


@contextlib.asynccontextmanager
async def open_hub(
    settings: Settings,
    metrics: Metrics,
    nats: NATS,
    schema: strawberry.Schema,
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
        hub.multiplexer = Multiplexer(
            schema, hub, SHAREABLE, hidden_by_blocks(PostgresRelationships(db))
        )
        async with hub_running(hub):
            yield hub
