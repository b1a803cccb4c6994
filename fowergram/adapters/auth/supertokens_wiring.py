"""Builds the SuperTokens auth provider: called by the composition root (app.py) only."""

from __future__ import annotations

import asyncpg
from nats.aio.client import Client as NATS
from redis.asyncio import Redis

from fowergram.adapters.auth.supertokens_provider import SuperTokensAuth
from fowergram.adapters.auth.supertokens_sdk import SuperTokensCore, init_supertokens
from fowergram.adapters.nats.session_events import NatsSessionEvents
from fowergram.adapters.postgres.accounts import PostgresAccounts
from fowergram.adapters.postgres.external_users import PostgresExternalUsers
from fowergram.adapters.redis.rate_limit import RedisRateLimiter
from fowergram.adapters.redis.revocations import RedisRevocationList
from fowergram.adapters.secrets import SystemSecrets
from fowergram.config import Settings
from fowergram.domain.auth.ports import SecondFactor, SignUpListener
from fowergram.domain.clock import Clock

# How long a signed-out session's handle stays on the revocation list: as long as its access
# tokens could still verify. The core sets their lifetime (access_token_validity, 1 h by
# default), not Fowergram, so this assumes it is at most a day.
REVOCATION_TTL_S = 24 * 3600 + 60


def supertokens_auth(
    settings: Settings,
    db: asyncpg.Pool,
    redis: Redis,
    nats: NATS,
    clock: Clock,
    *,
    on_sign_up: SignUpListener,
    second_factor: SecondFactor,
) -> SuperTokensAuth:
    """Set up supertokens-python (process-wide, once: see supertokens_sdk) and the provider."""
    if settings.supertokens_connection_uri is None:
        raise RuntimeError("SUPERTOKENS_CONNECTION_URI is not set")
    api_key = settings.supertokens_api_key
    init_supertokens(
        SuperTokensCore(
            settings.supertokens_connection_uri,
            api_key.get_secret_value() if api_key is not None else None,
        ),
        app_name=settings.app_name,
        api_domain=settings.links_base,
    )
    return SuperTokensAuth(
        accounts=PostgresAccounts(db),
        external_users=PostgresExternalUsers(db),
        revocations=RedisRevocationList(
            redis, key_prefix=settings.redis_key_prefix, ttl_s=REVOCATION_TTL_S
        ),
        events=NatsSessionEvents(nats, subject_prefix=settings.nats_subject_prefix),
        limiter=RedisRateLimiter(redis, key_prefix=settings.redis_key_prefix),
        secrets=SystemSecrets(),
        clock=clock,
        on_sign_up=on_sign_up,
        second_factor=second_factor,
    )
