"""Many users with a session and an access token each, fast, for the WebSocket benchmark.

Signing 10,000 people up through the API would run argon2 10,000 times (minutes of CPU
for nothing measured). The rows are inserted in one statement instead (no password:
as a social-login-only account), and each session is started by the auth service's own
`sign_in_verified` over the real PostgreSQL session store and JWT signer, so the tokens
are exactly those the server issues and verifies.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from nats.aio.client import Client as NATS
from redis.asyncio import Redis

from fowergram.adapters.auth.jwt_tokens import JwtAccessTokens
from fowergram.adapters.auth.passwords import Argon2Hasher
from fowergram.adapters.clock import SystemClock
from fowergram.adapters.nats.session_events import NatsSessionEvents
from fowergram.adapters.postgres import pool as pg_pool
from fowergram.adapters.postgres.accounts import PostgresAccounts
from fowergram.adapters.postgres.sessions import PostgresSessions
from fowergram.adapters.postgres.signing_keys import SigningKeyStore
from fowergram.adapters.redis.client import create_redis
from fowergram.adapters.redis.rate_limit import RedisRateLimiter
from fowergram.adapters.redis.revocations import RedisRevocationList
from fowergram.adapters.secrets import SystemSecrets
from fowergram.config import Settings
from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.service import AuthPolicy, AuthService
from fowergram.domain.auth.sessions import ClientInfo
from fowergram.domain.auth.viewer import Role

INSERT_USERS = """
INSERT INTO users (username, email)
SELECT $1 || g, $1 || g || '@bench.invalid' FROM generate_series(1, $2::int) AS g
RETURNING id, username, email, role, email_verified_at, created_at
"""
CLIENT = ClientInfo(ip="127.0.0.1", user_agent="bench_ws")


@dataclass(frozen=True, slots=True)
class BenchUser:
    user_id: int
    token: str


def _auth_service(settings: Settings, pool: asyncpg.Pool, redis: Redis) -> AuthService:
    """The auth service over the real stores. Starting a session touches only PostgreSQL
    and the signing key; the Redis and NATS adapters are built (never used) because the
    constructor asks for them."""
    ttl = settings.access_token_ttl_s
    keys = SigningKeyStore(
        pool,
        SystemClock(),
        rotation=timedelta(seconds=settings.signing_key_rotation_s),
        verify_grace=timedelta(seconds=ttl + 60),
    )
    return AuthService(
        accounts=PostgresAccounts(pool),
        sessions=PostgresSessions(pool),
        hasher=Argon2Hasher(time_cost=1, memory_kib=8, parallelism=1),
        tokens=JwtAccessTokens(keys, issuer=settings.jwt_issuer),
        revocations=RedisRevocationList(
            redis, key_prefix=settings.redis_key_prefix, ttl_s=ttl + 60
        ),
        events=NatsSessionEvents(NATS(), subject_prefix=settings.nats_subject_prefix),
        limiter=RedisRateLimiter(redis, key_prefix=settings.redis_key_prefix),
        secrets=SystemSecrets(),
        clock=SystemClock(),
        policy=AuthPolicy(
            access_ttl=timedelta(seconds=ttl),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_s),
        ),
        dummy_password_hash="",  # no password is ever checked here
    )


async def make_users(
    settings: Settings, count: int, *, username_prefix: str = "wsb", concurrency: int = 16
) -> list[BenchUser]:
    """`count` new users (usernames `<prefix><n>`), each with a fresh session and token."""
    assert settings.database_url is not None
    assert settings.redis_url is not None
    pool = await pg_pool.create_pool(settings.database_url, min_size=1, max_size=concurrency)
    redis = create_redis(settings.redis_url)
    try:
        started = time.monotonic()
        rows = await pool.fetch(INSERT_USERS, username_prefix, count)
        accounts = [
            Account(
                id=row["id"],
                username=row["username"],
                email=row["email"],
                password_hash=None,
                role=Role(row["role"]),
                email_verified_at=row["email_verified_at"],
                created_at=row["created_at"],
            )
            for row in rows
        ]
        inserted = time.monotonic()
        auth = _auth_service(settings, pool, redis)
        gate = asyncio.Semaphore(concurrency)

        async def one(account: Account) -> BenchUser:
            async with gate:
                tokens = await auth.sign_in_verified(account, CLIENT)
            return BenchUser(account.id, tokens.access_token)

        users = list(await asyncio.gather(*(one(account) for account in accounts)))
        print(
            f"  {count} users inserted in {inserted - started:.1f} s, sessions and tokens "
            f"in {time.monotonic() - inserted:.1f} s"
        )
        return users
    finally:
        await redis.aclose()
        await pool.close()
