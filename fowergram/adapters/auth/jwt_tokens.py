"""Access tokens: JWTs signed with Ed25519 (PyJWT), `kid` in the header."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import jwt

from fowergram.adapters.postgres.signing_keys import SigningKeyStore
from fowergram.domain.auth.ports import AccessClaims
from fowergram.domain.auth.viewer import Role
from fowergram.domain.errors import Unauthenticated

ALGORITHM = "EdDSA"
LEEWAY_S = 5
# Ours are ~400 bytes; anything far larger is not ours and is not worth decoding.
MAX_TOKEN_BYTES = 4096


# Tokens verified lately. A client sends the same token with every request for up to
# its lifetime, and an Ed25519 verification plus decoding costs about a tenth of a small
# request; identical bytes verify identically, so only expiry and the key's standing are
# checked again. Bounded: oldest first out.
VERIFIED_CACHED = 8192


class JwtAccessTokens:
    def __init__(
        self, keys: SigningKeyStore, *, issuer: str, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._wall_clock = wall_clock  # PyJWT's clock, for tokens verified earlier
        self._verified: dict[str, tuple[AccessClaims, str]] = {}

    async def issue(self, claims: AccessClaims) -> str:
        key = await self._keys.signing_key()
        payload = {
            "iss": self._issuer,
            "sub": str(claims.user_id),
            "sid": claims.session_id,
            "role": claims.role.value,
            "csrf": claims.anti_csrf,
            # Wall-clock time, not the injected Clock: PyJWT checks iat and exp against
            # the wall clock, so a token's times must be real ones.
            "iat": int(datetime.now(UTC).timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        }
        return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    async def verify(self, token: str) -> AccessClaims:
        known = self._verified.get(token)
        if known is not None:
            claims, kid = known
            if self._wall_clock() >= claims.expires_at.timestamp() + LEEWAY_S:
                raise Unauthenticated("access token expired")
            # A retired key takes its tokens with it, cached or not.
            if await self._keys.verification_key(kid) is None:
                raise Unauthenticated("access token signed with an unknown key")
            return claims
        claims, kid = await self._verify_signed(token)
        if len(self._verified) >= VERIFIED_CACHED:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, kid)
        return claims

    async def _verify_signed(self, token: str) -> tuple[AccessClaims, str]:
        """The claims of a token whose signature, issuer and times check out, and its kid."""
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated("access token not issued here")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed access token") from None
        # Only our algorithm: `none`, HMAC-with-the-public-key and friends never verify.
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise Unauthenticated("access token not issued here")
        key = await self._keys.verification_key(header["kid"])
        if key is None:
            raise Unauthenticated("access token signed with an unknown key")
        try:
            payload = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "sub", "sid", "role", "csrf"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("access token invalid") from None
        try:
            claims = AccessClaims(
                user_id=int(payload["sub"]),
                session_id=str(payload["sid"]),
                role=Role(payload["role"]),
                anti_csrf=str(payload["csrf"]),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            )
        except (ValueError, TypeError):
            raise Unauthenticated("access token invalid") from None
        return claims, header["kid"]
