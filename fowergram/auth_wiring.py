"""The composition root's authentication part: the auth provider, social sign-in,
mail and account recovery, built from settings (called by `app.open_container`)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import asyncpg
import httpx
from nats.aio.client import Client as NATS
from pydantic import SecretStr
from redis.asyncio import Redis

from fowergram.adapters.auth.jwt_tokens import JwtAccessTokens
from fowergram.adapters.auth.oauth import OAuthClient
from fowergram.adapters.auth.oauth_gateway import OAuthClientGateway
from fowergram.adapters.auth.oauth_providers import providers_from_settings
from fowergram.adapters.auth.passwords import Argon2Hasher
from fowergram.adapters.clock import SystemClock
from fowergram.adapters.mail.dev_mailbox import DevMailbox
from fowergram.adapters.mail.smtp import SmtpMailer
from fowergram.adapters.nats.session_events import NatsSessionEvents
from fowergram.adapters.postgres.accounts import PostgresAccounts
from fowergram.adapters.postgres.identities import PostgresIdentities
from fowergram.adapters.postgres.mailed_tokens import PostgresMailedTokens
from fowergram.adapters.postgres.sessions import PostgresSessions
from fowergram.adapters.postgres.signing_keys import SigningKeyStore
from fowergram.adapters.redis.mfa_challenges import RedisMfaChallenges
from fowergram.adapters.redis.pending_logins import RedisPendingLogins
from fowergram.adapters.redis.rate_limit import RedisRateLimiter
from fowergram.adapters.redis.revocations import RedisRevocationList
from fowergram.adapters.secrets import SystemSecrets
from fowergram.config import Settings
from fowergram.domain.auth.mfa import MfaService
from fowergram.domain.auth.ports import SignUpListener
from fowergram.domain.auth.recovery import AccountRecovery, RecoveryPolicy
from fowergram.domain.auth.service import AuthPolicy, AuthService
from fowergram.domain.auth.social import SocialSignIn
from fowergram.domain.clock import Clock
from fowergram.domain.mail import Mailer


async def auth_service(
    settings: Settings,
    db: asyncpg.Pool,
    redis: Redis,
    nats: NATS,
    signing_keys: SigningKeyStore,
    clock: SystemClock,
    *,
    on_sign_up: SignUpListener,
    mfa: MfaService,
) -> AuthService:
    hasher = password_hasher(settings)
    return AuthService(
        accounts=PostgresAccounts(db),
        sessions=PostgresSessions(db),
        hasher=hasher,
        tokens=JwtAccessTokens(signing_keys, issuer=settings.jwt_issuer),
        revocations=revocations(settings, redis),
        events=NatsSessionEvents(nats, subject_prefix=settings.nats_subject_prefix),
        limiter=RedisRateLimiter(redis, key_prefix=settings.redis_key_prefix),
        secrets=SystemSecrets(),
        clock=clock,
        policy=AuthPolicy(
            access_ttl=timedelta(seconds=settings.access_token_ttl_s),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_s),
            reuse_grace=timedelta(seconds=settings.refresh_reuse_grace_s),
        ),
        # Same parameters as real hashes, so a sign-in for a missing account costs the same.
        dummy_password_hash=await hasher.hash(SystemSecrets().token()),
        on_sign_up=on_sign_up,
        second_factor=mfa,
        challenges=RedisMfaChallenges(redis, key_prefix=settings.redis_key_prefix),
    )


async def social_sign_in(
    settings: Settings,
    db: asyncpg.Pool,
    redis: Redis,
    auth: AuthService,
    stack: contextlib.AsyncExitStack,
) -> SocialSignIn | None:
    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    providers = providers_from_settings(
        google_client_id=settings.oauth_google_client_id,
        google_client_secret=secret(settings.oauth_google_client_secret),
        github_client_id=settings.oauth_github_client_id,
        github_client_secret=secret(settings.oauth_github_client_secret),
        oidc_name=settings.oidc_name,
        oidc_issuer=settings.oidc_issuer,
        oidc_client_id=settings.oidc_client_id,
        oidc_client_secret=secret(settings.oidc_client_secret),
    )
    if not providers:
        return None
    http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
    return SocialSignIn(
        gateway=OAuthClientGateway(OAuthClient(providers, http)),
        pending=RedisPendingLogins(redis, key_prefix=settings.redis_key_prefix),
        identities=PostgresIdentities(db),
        accounts=PostgresAccounts(db),
        verification=PostgresMailedTokens(db),
        auth=auth,
        redirect_uris=settings.allowed_redirect_uris,
        limiter=RedisRateLimiter(redis, key_prefix=settings.redis_key_prefix),
        secrets_source=SystemSecrets(),
    )


def password_hasher(settings: Settings) -> Argon2Hasher:
    return Argon2Hasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def mailer(settings: Settings) -> Mailer:
    if settings.smtp_host is None:
        return DevMailbox(settings.data_dir / "mail", sender=settings.mail_from)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        sender=settings.mail_from,
        username=settings.smtp_username,
        password=password,
        starttls=settings.smtp_starttls,
        use_tls=settings.smtp_use_tls,
    )


def account_recovery(
    settings: Settings, db: asyncpg.Pool, redis: Redis, nats: NATS, mailer: Mailer, clock: Clock
) -> AccountRecovery:
    tokens = PostgresMailedTokens(db)
    return AccountRecovery(
        accounts=PostgresAccounts(db),
        verification=tokens,
        tokens=tokens,
        sessions=PostgresSessions(db),
        revocations=revocations(settings, redis),
        events=NatsSessionEvents(nats, subject_prefix=settings.nats_subject_prefix),
        hasher=password_hasher(settings),
        mailer=mailer,
        limiter=RedisRateLimiter(redis, key_prefix=settings.redis_key_prefix),
        secrets=SystemSecrets(),
        clock=clock,
        policy=RecoveryPolicy(
            links_base=settings.links_base,
            app_name=settings.app_name,
        ),
        passwords_held_elsewhere=settings.supertokens_connection_uri is not None,
    )


def revocations(settings: Settings, redis: Redis) -> RedisRevocationList:
    return RedisRevocationList(
        redis, key_prefix=settings.redis_key_prefix, ttl_s=settings.access_token_ttl_s + 60
    )
