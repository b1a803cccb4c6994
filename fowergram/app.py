"""The composition root: builds the clients, adapters and services once and wires the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from nats.aio.client import Client as NATS
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from fowergram import auth_wiring
from fowergram.adapters.auth.supertokens_wiring import supertokens_auth
from fowergram.adapters.auth.totp import PyOtpTotp
from fowergram.adapters.clock import SystemClock
from fowergram.adapters.mail.background import BackgroundMailer
from fowergram.adapters.nats import connection as nats_connection
from fowergram.adapters.nats.event_stream import JetStreamEvents
from fowergram.adapters.postgres import pool as pg_pool
from fowergram.adapters.postgres.accounts import PostgresAccounts
from fowergram.adapters.postgres.comments import PostgresComments
from fowergram.adapters.postgres.follows import PostgresGraph
from fowergram.adapters.postgres.likes import PostgresLikes
from fowergram.adapters.postgres.mfa import PostgresMfaStore
from fowergram.adapters.postgres.notifications import PostgresNotifications
from fowergram.adapters.postgres.outbox_queue import PostgresOutboxQueue
from fowergram.adapters.postgres.outbox_wakeups import OutboxWakeups
from fowergram.adapters.postgres.posts import PostgresPosts
from fowergram.adapters.postgres.profile_writes import PostgresProfileWriter
from fowergram.adapters.postgres.profiles import PostgresProfiles
from fowergram.adapters.postgres.relationships import PostgresRelationships
from fowergram.adapters.postgres.search import PostgresSearch
from fowergram.adapters.postgres.signing_keys import SigningKeyStore
from fowergram.adapters.redis import client as redis_client
from fowergram.adapters.redis.persisted_queries import RedisPersistedQueries
from fowergram.adapters.redis.rate_limit import RedisRateLimiter
from fowergram.adapters.redis.socket_tickets import RedisSocketTickets
from fowergram.adapters.secrets import SystemSecrets
from fowergram.config import Settings, load_settings
from fowergram.container import Container, Services
from fowergram.domain.auth.mfa import MfaService
from fowergram.domain.auth.moderation import Moderation
from fowergram.domain.auth.provider import AuthProvider
from fowergram.domain.notifications.service import NotificationService
from fowergram.domain.server_info import ServerInfoService
from fowergram.domain.social.comment_service import CommentService
from fowergram.domain.social.graph_service import GraphService
from fowergram.domain.social.likes import LikeService
from fowergram.domain.social.post_service import PostService
from fowergram.domain.social.profile_service import ProfileService
from fowergram.domain.social.profile_update import ProfileEditor
from fowergram.domain.social.search import SearchService
from fowergram.graphql.app import GRAPHIQL_ASSETS_PATH, STATIC_DIR, GraphQLView
from fowergram.graphql.schema import build_schema
from fowergram.http.auth_routes import auth_routes
from fowergram.http.body_limit import LimitRequestBody
from fowergram.http.health import liveness, readiness
from fowergram.http.metrics import metrics_endpoint
from fowergram.http.mfa_routes import mfa_routes
from fowergram.http.observe import ObserveRequests
from fowergram.http.recovery_routes import recovery_routes
from fowergram.http.social_routes import social_routes
from fowergram.observability.gc_policy import CollectorPolicy, collector_policy
from fowergram.observability.logs import configure_logging
from fowergram.observability.metrics import Metrics
from fowergram.presence_wiring import open_presence
from fowergram.realtime.endpoint import SocketEndpoint
from fowergram.realtime.hub_wiring import open_hub, socket_options
from fowergram.realtime.outbox_relay import OutboxRelay, RelayOptions, relaying
from fowergram.realtime.workers import open_consumers

log = logging.getLogger(__name__)

POOL_SAMPLE_INTERVAL_S = 5.0


async def _every(interval_s: float, action: Callable[[], None]) -> None:
    while True:
        action()
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def open_container(settings: Settings, metrics: Metrics) -> AsyncIterator[Container]:
    """Open the pools and clients, build the services; close everything on exit."""
    database_url, redis_url, nats_url = settings.database_url, settings.redis_url, settings.nats_url
    if database_url is None or redis_url is None or nats_url is None:
        raise RuntimeError("DATABASE_URL, REDIS_URL and NATS_URL must be set to serve")
    async with contextlib.AsyncExitStack() as stack:
        db = await pg_pool.create_pool(
            database_url,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            on_query=lambda _: metrics.db_queries.inc(),
        )
        stack.push_async_callback(db.close)
        redis = redis_client.create_redis(redis_url)
        stack.push_async_callback(redis.aclose)
        nats = await nats_connection.connect_nats(
            nats_url, name=f"{settings.app_name}-{os.getpid()}"
        )
        stack.push_async_callback(nats_connection.close_nats, nats)
        if settings.outbox_relay_enabled:  # stops before NATS and the pool close
            await stack.enter_async_context(open_outbox_relay(settings, metrics, nats))
        if settings.consumers_enabled:  # every registered consumer, in this process
            # A pool of their own: under a write load their lanes held most of the
            # requests' connections, and requests waited for them.
            consumers_db = await pg_pool.create_pool(
                database_url,
                min_size=1,
                max_size=settings.consumer_db_pool_max_size,
                on_query=lambda _: metrics.db_queries.inc(),
            )
            stack.push_async_callback(consumers_db.close)
            await stack.enter_async_context(
                open_consumers(settings, metrics, nats, consumers_db, None)
            )

        def sample_pool() -> None:
            size = db.get_size()
            metrics.db_pool_size.set(size)
            metrics.db_pool_in_use.set(size - db.get_idle_size())

        metrics.add_sampler(sample_pool)
        # Every worker refreshes its own gauges: with several workers a scrape reaches one.
        sampler = asyncio.create_task(_every(POOL_SAMPLE_INTERVAL_S, sample_pool))
        stack.callback(sampler.cancel)
        clock = SystemClock()
        signing_keys = SigningKeyStore(
            db,
            clock,
            rotation=timedelta(seconds=settings.signing_key_rotation_s),
            verify_grace=timedelta(seconds=settings.access_token_ttl_s + 60),
            refresh_s=settings.signing_keys_refresh_s,
        )
        mailer = BackgroundMailer(auth_wiring.mailer(settings))
        stack.push_async_callback(mailer.drain)
        recovery = auth_wiring.account_recovery(settings, db, redis, nats, mailer, clock)
        mfa = MfaService(
            store=PostgresMfaStore(db),
            totp=PyOtpTotp(),
            accounts=PostgresAccounts(db),
            limiter=RedisRateLimiter(redis, key_prefix=settings.redis_key_prefix),
            secrets=SystemSecrets(),
            clock=clock,
            issuer=settings.app_name,
        )
        auth = await auth_wiring.auth_service(
            settings, db, redis, nats, signing_keys, clock, on_sign_up=recovery, mfa=mfa
        )
        social = await auth_wiring.social_sign_in(settings, db, redis, auth, stack)
        relationships = PostgresRelationships(db)
        posts = PostService(store=PostgresPosts(db), standings=relationships)
        auth_provider: AuthProvider = auth
        if settings.supertokens_connection_uri:  # sign-up, sign-in and sessions via SuperTokens
            social = None  # it would issue built-in sessions, which SuperTokens mode refuses
            auth_provider = supertokens_auth(
                settings, db, redis, nats, clock, on_sign_up=recovery, second_factor=mfa
            )
        yield Container(
            settings=settings,
            db=db,
            redis=redis,
            nats=nats,
            services=Services(
                server_info=ServerInfoService(
                    name=settings.app_name,
                    version=settings.app_version,
                    environment=settings.environment,
                    clock=clock,
                ),
                auth=auth_provider,
                recovery=recovery,
                mfa=mfa,
                social=social,
                profiles=ProfileService(store=PostgresProfiles(db)),
                search=SearchService(store=PostgresSearch(db), relationships=relationships),
                graph=GraphService(
                    store=PostgresGraph(db),
                    standings=relationships,
                    relationships=relationships,
                    limiter=RedisRateLimiter(redis, key_prefix=settings.redis_key_prefix),
                ),
                profile_edits=ProfileEditor(writer=PostgresProfileWriter(db)),
                posts=posts,
                likes=LikeService(store=PostgresLikes(db), posts=posts),
                comments=CommentService(
                    store=PostgresComments(db), posts=posts, standings=relationships
                ),
                notifications=NotificationService(store=PostgresNotifications(db)),
                presence=await stack.enter_async_context(
                    open_presence(settings, db, redis, nats, clock, metrics)
                ),
                moderation=Moderation(PostgresAccounts(db), auth_provider, clock),
            ),
            signing_keys=signing_keys,
            persisted_queries=RedisPersistedQueries(redis, key_prefix=settings.redis_key_prefix),
            socket_tickets=RedisSocketTickets(redis, key_prefix=settings.redis_key_prefix),
            readiness_checks={
                "postgres": lambda: pg_pool.ping(db),
                "redis": lambda: redis_client.ping(redis),
                "nats": lambda: nats_connection.ping(nats),
            },
        )


@contextlib.asynccontextmanager
async def open_outbox_relay(
    settings: Settings, metrics: Metrics, nats: NATS
) -> AsyncIterator[asyncio.Task[None]]:
    """The outbox relay, running until exit. Its pool is its own and unobserved: the
    relay's statements are not counted as requests' round trips."""
    assert settings.database_url is not None
    pool = await pg_pool.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        relay = OutboxRelay(
            PostgresOutboxQueue(pool),
            JetStreamEvents(
                nats,
                subject_prefix=settings.nats_subject_prefix,
                max_age_s=settings.outbox_stream_max_age_s,
            ),
            OutboxWakeups(settings.database_url),
            metrics,
            RelayOptions(
                batch_size=settings.outbox_relay_batch_size,
                poll_interval_s=settings.outbox_relay_poll_interval_s,
            ),
        )
        async with relaying(relay) as task:
            yield task
    finally:
        await pool.close()


def _routes(settings: Settings, graphql: GraphQLView) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        # First: Starlette tries routes in order, and nearly every request is GraphQL.
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/health", liveness, methods=["GET"]),
        Route("/health/ready", readiness, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *auth_routes(),
        *recovery_routes(),
        *mfa_routes(),
        *social_routes(),
    ]
    if not settings.is_production:
        assets = StaticFiles(directory=STATIC_DIR / "graphiql")
        routes.append(Mount(GRAPHIQL_ASSETS_PATH, assets, name="graphiql-assets"))
    return routes


def create_app(settings: Settings) -> Starlette:
    metrics = Metrics()
    schema = build_schema(
        max_depth=settings.graphql_max_depth,
        max_tokens=settings.graphql_max_tokens,
        max_aliases=settings.graphql_max_aliases,
        introspection=not settings.is_production,
    )
    graphql = GraphQLView(schema, graphiql=not settings.is_production)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        async with (
            open_container(settings, metrics) as container,
            open_hub(
                settings,
                metrics,
                container.nats,
                schema,
                container.db,
                presence=container.services.presence.tracker,
            ) as hub,
            collector_policy(CollectorPolicy.from_settings(settings), metrics),
        ):
            app.state.hub = hub  # for tests that look inside a running hub
            log.info("ready", extra={"environment": settings.environment})
            # The hub's sockets are served at the transport (realtime/ws_transport.py),
            # which finds their endpoint in the lifespan state.
            sockets = SocketEndpoint(schema, socket_options(settings), metrics, hub, container)
            yield {"container": container, "hub": hub, "sockets": sockets}
        log.info("stopped")

    app = Starlette(
        routes=_routes(settings, graphql),
        middleware=[
            Middleware(ObserveRequests, metrics=metrics),
            Middleware(LimitRequestBody, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.settings = settings
    return app


def create_app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from the environment."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
