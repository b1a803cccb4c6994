"""Prometheus metrics: one registry per app (no module globals), multi-process aware.

With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR (`fowergram serve --workers N`
does) and every worker's samples are aggregated at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "fowergram_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "fowergram_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_in_flight = Gauge(
            "fowergram_http_requests_in_flight",
            "HTTP requests being served.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.ws_open = Gauge(
            "fowergram_websocket_connections_open",
            "WebSocket connections open now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.ws_connections = Counter(
            "fowergram_websocket_connections_total",
            "WebSocket connections accepted.",
            registry=self.registry,
        )
        self.ws_refused = Counter(
            "fowergram_websocket_refused_total",
            "WebSocket connections refused, by reason (origin, draining, credentials).",
            ["reason"],
            registry=self.registry,
        )
        self.ws_slow_consumers = Counter(
            "fowergram_websocket_slow_consumers_total",
            "Sockets closed because their bounded outbound buffer overflowed.",
            registry=self.registry,
        )
        self.ws_dead_peers = Counter(
            "fowergram_websocket_dead_peers_total",
            "Sockets closed because the peer stopped answering pings.",
            registry=self.registry,
        )
        self.ws_operations = Counter(
            "fowergram_websocket_operations_total",
            "GraphQL operations started over WebSockets.",
            registry=self.registry,
        )
        self.db_pool_size = Gauge(
            "fowergram_db_pool_connections",
            "Connections open in the PostgreSQL pool.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.db_pool_in_use = Gauge(
            "fowergram_db_pool_connections_in_use",
            "Pool connections checked out by a request.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.db_queries = Counter(
            "fowergram_db_queries_total",
            "SQL statements sent to PostgreSQL (round trips).",
            registry=self.registry,
        )
        self.outbox_published = Counter(
            "fowergram_outbox_events_published_total",
            "Outbox events published to JetStream and acknowledged, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.outbox_publish_failures = Counter(
            "fowergram_outbox_publish_failures_total",
            "Failed attempts to publish an outbox event (it waits and is retried).",
            registry=self.registry,
        )
        self.outbox_lag = Gauge(
            "fowergram_outbox_lag_seconds",
            "Age of the oldest unpublished outbox event (sampled; 0 when none waits).",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.channel_subscriptions = Gauge(
            "fowergram_channel_subscriptions",
            "Live channels (NATS subjects) this instance is subscribed to upstream.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.channel_messages = Counter(
            "fowergram_channel_messages_received_total",
            "Messages taken from the live channels' backend by the fan-out.",
            registry=self.registry,
        )
        self.channel_deliveries = Counter(
            "fowergram_channel_deliveries_total",
            "Messages handed to a channel's sinks (one per sink per message).",
            registry=self.registry,
        )
        self.channel_dropped = Counter(
            "fowergram_channel_dropped_total",
            "Live channel messages lost: backlog (the backend's bounded queue was full and "
            "dropped its oldest) or sink_error (a sink raised on delivery).",
            ["reason"],
            registry=self.registry,
        )
        self.consumer_events = Counter(
            "fowergram_consumer_events_total",
            "Events settled by a durable consumer, by consumer and outcome "
            "(ok, retried, dead_lettered).",
            ["consumer", "outcome"],
            registry=self.registry,
        )
        self.consumer_handle_latency = Histogram(
            "fowergram_consumer_handle_duration_seconds",
            "Time a durable consumer's handler took per event (failures included).",
            ["consumer"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.presence_local_users = Gauge(
            "fowergram_presence_local_users",
            "Users with at least one socket open on this instance.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        # The garbage collector (fowergram/observability/gc_policy.py): a full collection
        # walks every tracked object, so its pause grows with the sockets held.
        self.gc_pause = Histogram(
            "fowergram_gc_pause_seconds",
            "Garbage-collector pauses, by generation (2 = full collection).",
            ["generation"],
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.gc_tracked_objects = Gauge(
            "fowergram_gc_tracked_objects",
            "Objects the garbage collector tracks, by generation (0-2; 'frozen': never "
            "walked). Sampled at most every 30 s (frozen: 10 min): counting walks them.",
            ["generation"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.gc_freezes = Counter(
            "fowergram_gc_freezes_total",
            "Collector freezes of what sockets built (freeze; freeze_unswept: a burst frozen "
            "without a collection), surveys of the frozen garbage "
            "in a forked child (survey) and thaws freeing it (thaw: one full collection).",
            ["action"],
            registry=self.registry,
        )
        self._samplers: list[Callable[[], None]] = []

    def add_sampler(self, sampler: Callable[[], None]) -> None:
        """Register a callable that refreshes gauges just before each scrape."""
        self._samplers.append(sampler)

    def render(self) -> bytes:
        for sampler in self._samplers:
            sampler()
        if _multiprocess():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
