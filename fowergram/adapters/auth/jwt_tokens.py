"""Access tokens: JWTs signed with RS256 (PyJWT), `kid` in the header (see signing_keys)."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from datetime import UTC, datetime

import jwt
import orjson

from fowergram.adapters.postgres.signing_keys import SigningKeyStore
from fowergram.domain.auth.ports import AccessClaims
from fowergram.domain.auth.viewer import Role
from fowergram.domain.errors import Unauthenticated

LEEWAY_S = 5
# Ours are ~650 bytes; anything far larger is not ours and is not worth decoding.
MAX_TOKEN_BYTES = 4096


# Tokens verified lately. A client sends the same token with every request for up to
# its lifetime, and a verification plus decoding costs about a tenth of a small request;
# identical bytes verify identically, so only expiry and the key's standing are checked
# again. Bounded: oldest first out.
VERIFIED_CACHED = 8192


def unverified_header(token: str) -> dict[str, object]:
    """The token's JOSE header, read only to find its key; PyJWT checks all of it after.

    `jwt.get_unverified_header` would validate every segment character by character in
    Python (~60 µs for one of our tokens, as much as the signature check itself)."""
    segment = token.partition(".")[0]
    try:
        header = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        raise Unauthenticated("malformed access token") from None
    if not isinstance(header, dict):
        raise Unauthenticated("malformed access token")
    return header


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
        return jwt.encode(
            payload, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid}
        )

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
        header = unverified_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("access token not issued here")
        key = await self._keys.verification_key(kid)
        if key is None:
            raise Unauthenticated("access token signed with an unknown key")
        # Only the key's own algorithm: `none`, HMAC-with-the-public-key, another
        # algorithm under a real kid and friends never verify.
        if header.get("alg") != key.algorithm:
            raise Unauthenticated("access token not issued here")
        try:
            payload = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
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
        return claims, kid
