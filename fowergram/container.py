"""What the composition root builds: clients (for adapters), services (for handlers), checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client as NATS
from redis.asyncio import Redis

from fowergram.adapters.postgres.signing_keys import SigningKeyStore
from fowergram.adapters.redis.persisted_queries import RedisPersistedQueries
from fowergram.adapters.redis.socket_tickets import RedisSocketTickets
from fowergram.config import Settings
from fowergram.domain.auth.mfa import MfaService
from fowergram.domain.auth.moderation import Moderation
from fowergram.domain.auth.provider import AuthProvider
from fowergram.domain.auth.recovery import AccountRecovery
from fowergram.domain.auth.social import SocialSignIn
from fowergram.domain.notifications.service import NotificationService
from fowergram.domain.presence_service import PresenceService
from fowergram.domain.server_info import ServerInfoService
from fowergram.domain.social.comment_service import CommentService
from fowergram.domain.social.graph_service import GraphService
from fowergram.domain.social.likes import LikeService
from fowergram.domain.social.post_service import PostService
from fowergram.domain.social.profile_service import ProfileService
from fowergram.domain.social.profile_update import ProfileEditor
from fowergram.domain.social.search import SearchService


@dataclass(frozen=True, slots=True)
class Services:
    """The domain services: all that resolvers and handlers may call."""

    server_info: ServerInfoService
    auth: AuthProvider
    recovery: AccountRecovery
    mfa: MfaService
    social: SocialSignIn | None  # None: no provider configured
    profiles: ProfileService
    posts: PostService
    likes: LikeService
    graph: GraphService
    profile_edits: ProfileEditor
    search: SearchService
    comments: CommentService
    notifications: NotificationService
    presence: PresenceService
    moderation: Moderation


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    db: asyncpg.Pool
    redis: Redis
    nats: NATS
    services: Services
    signing_keys: SigningKeyStore
    persisted_queries: RedisPersistedQueries
    socket_tickets: RedisSocketTickets
    readiness_checks: Mapping[str, Callable[[], Awaitable[None]]]
