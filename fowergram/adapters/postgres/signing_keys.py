"""Signing keys for access tokens, shared by every instance through PostgreSQL.

New keys are RSA-2048 (RS256): verifying an RS256 signature costs ~30 µs here against
~140 µs for Ed25519, and every socket's `connection_init` verifies a token (measured on
this machine, 2026-11-27). Keys made before (EdDSA) keep verifying their tokens until
their window closes: each key carries its algorithm, and a token is checked with its
key's algorithm only, never the one its header names.

The newest key whose signing window is open signs; every key still inside its
verification window is published in the JWKS and accepted. Keys are cached in memory
and re-read at most every `refresh_s` seconds, or when an unknown `kid` shows up
(another instance rotated), at most once per `miss_refresh_s` so forged kids cannot
hammer the database. A re-read parses only keys it has not parsed before, in a thread
(loading an RSA key checks it: ~35 ms of CPU), and the requests that find the cache
stale together share one re-read: under load every in-flight request used to re-read
and re-parse every key on the event loop at once, a pause of half a second a minute.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateKey,
    RSAPublicKey,
    generate_private_key,
)
from jwt.algorithms import RSAAlgorithm

from fowergram.domain.clock import Clock

NEW_KEY_ALGORITHM = "RS256"
RSA_KEY_BITS = 2048
# What each algorithm's keys must be; a row whose key is not of its algorithm's type is
# refused at load rather than trusted.
_KEY_TYPES: dict[str, type[RSAPrivateKey] | type[Ed25519PrivateKey]] = {
    "RS256": RSAPrivateKey,
    "EdDSA": Ed25519PrivateKey,
}
PrivateKey = RSAPrivateKey | Ed25519PrivateKey
PublicKey = RSAPublicKey | Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: PrivateKey
    public_jwk: dict[str, Any]
    signs_until: datetime
    verifies_until: datetime
    # Derived once: deriving it costs as much as a tenth of a token's verification.
    public_key: PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_key", self.private_key.public_key())


def _new_key(kid: str) -> tuple[str, dict[str, Any]]:
    """A new RS256 key: its private PEM and its public JWK."""
    private_key = generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk |= {"kid": kid, "alg": NEW_KEY_ALGORITHM, "use": "sig"}
    return pem, jwk


def _parse(row: asyncpg.Record) -> PrivateKey:
    """The row's private key, checked to be of its algorithm's type (CPU-heavy for RSA)."""
    private_key = serialization.load_pem_private_key(row["private_pem"].encode(), password=None)
    expected = _KEY_TYPES.get(row["algorithm"])
    if expected is None or not isinstance(private_key, expected):
        raise ValueError(f"signing key {row['kid']} is not an {row['algorithm']} key")
    return private_key


def _parse_all(rows: list[asyncpg.Record]) -> dict[str, tuple[tuple[str, str], PrivateKey]]:
    return {row["kid"]: (_parsed_from(row), _parse(row)) for row in rows}


def _parsed_from(row: asyncpg.Record) -> tuple[str, str]:
    """What a parsed key was parsed and checked from: a row that changed either is parsed
    and checked again."""
    return row["private_pem"], row["algorithm"]


def _signing_key(row: asyncpg.Record, private_key: PrivateKey) -> SigningKey:
    return SigningKey(
        kid=row["kid"],
        algorithm=row["algorithm"],
        private_key=private_key,
        public_jwk=row["public_jwk"],
        signs_until=row["signs_until"],
        verifies_until=row["verifies_until"],
    )


class SigningKeyStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        rotation: timedelta,
        verify_grace: timedelta,
        refresh_s: float = 60.0,
        miss_refresh_s: float = 5.0,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._rotation = rotation
        self._verify_grace = verify_grace  # the access-token lifetime, plus clock skew
        self._refresh_s = refresh_s
        self._miss_refresh_s = miss_refresh_s
        self._keys: dict[str, SigningKey] = {}
        # kid -> ((its PEM, its algorithm), its parsed key)
        self._parsed: dict[str, tuple[tuple[str, str], PrivateKey]] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Future[None] | None = None

    async def signing_key(self) -> SigningKey:
        await self._refresh_if_stale()
        now = self._clock.now()
        usable = [k for k in self._keys.values() if k.signs_until > now]
        if not usable:
            async with self._lock:
                await self._create_if_needed()
            usable = [k for k in self._keys.values() if k.signs_until > now]
        return max(usable, key=lambda k: k.signs_until)

    async def verification_key(self, kid: str) -> SigningKey | None:
        await self._refresh_if_stale()
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._loaded_at > self._miss_refresh_s:
            await self._shared_reload()
            key = self._keys.get(kid)
        if key is None or key.verifies_until <= self._clock.now():
            return None
        return key

    async def jwks(self) -> dict[str, list[dict[str, Any]]]:
        await self._refresh_if_stale()
        now = self._clock.now()
        live = sorted(
            (k for k in self._keys.values() if k.verifies_until > now),
            key=lambda k: k.signs_until,
            reverse=True,
        )
        return {"keys": [k.public_jwk for k in live]}

    async def rotate_now(self, *, retire_others: bool = False) -> SigningKey:
        """Start signing with a new key at once. The old ones keep verifying their tokens
        unless `retire_others` (a suspected key leak: everyone must refresh or sign in)."""
        async with self._lock:
            key = await self._insert_key()
            if retire_others:
                await self._pool.execute(
                    "UPDATE signing_keys SET signs_until = least(signs_until, $2), "
                    "verifies_until = $2 + interval '1 microsecond' WHERE kid <> $1",
                    key.kid,
                    self._clock.now(),
                )
                await self._reload()
            return key

    async def _refresh_if_stale(self) -> None:
        if time.monotonic() - self._loaded_at > self._refresh_s:
            await self._shared_reload()

    async def _shared_reload(self) -> None:
        """A re-read that callers arriving while one runs wait for instead of starting
        theirs (it began after the cache went stale, so it is fresh enough for them)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._reload())
        await asyncio.shield(self._refreshing)

    async def _reload(self) -> None:
        rows = await self._pool.fetch(
            "SELECT kid, algorithm, private_pem, public_jwk, signs_until, verifies_until "
            "FROM signing_keys WHERE verifies_until > $1",
            self._clock.now(),
        )
        unparsed = [
            row
            for row in rows
            if (known := self._parsed.get(row["kid"])) is None or known[0] != _parsed_from(row)
        ]
        parsed = dict(self._parsed)
        if unparsed:
            parsed |= await asyncio.to_thread(_parse_all, unparsed)
        self._keys = {row["kid"]: _signing_key(row, parsed[row["kid"]][1]) for row in rows}
        self._parsed = {kid: parsed[kid] for kid in self._keys}  # expired ones are let go
        self._loaded_at = time.monotonic()

    async def _create_if_needed(self) -> None:
        await self._reload()
        if not any(k.signs_until > self._clock.now() for k in self._keys.values()):
            await self._insert_key()

    async def _insert_key(self) -> SigningKey:
        kid = uuid.uuid4().hex[:16]
        # Making an RSA key takes ~0.1 s of CPU: not on the event loop.
        pem, jwk = await asyncio.to_thread(_new_key, kid)
        now = self._clock.now()
        signs_until = now + self._rotation
        await self._pool.execute(
            "INSERT INTO signing_keys (kid, algorithm, private_pem, public_jwk, created_at,"
            " signs_until, verifies_until) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            kid,
            NEW_KEY_ALGORITHM,
            pem,
            jwk,
            now,
            signs_until,
            signs_until + self._verify_grace,
        )
        await self._reload()
        return self._keys[kid]
