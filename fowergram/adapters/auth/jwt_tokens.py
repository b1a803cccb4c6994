"""Access tokens: JWTs signed with RS256 (joserfc), `kid` in the header (see signing_keys).

joserfc rather than PyJWT (which still checks OpenID Connect tokens): every socket's
`connection_init` verifies a token, and PyJWT 2.15 checks each character of a token in
a Python generator before decoding it (~20 µs of ~50 for one of ours); joserfc's decoding
is as strict (canonical base64url only, through `binascii`) and verifies in ~30 µs
(measured 2026-11-27; joserfc comes with Authlib already).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError, SecurityWarning
from joserfc.jwk import OKPKey, RSAKey
from joserfc.jws import CompactSignature, JWSRegistry
from joserfc.jwt import ClaimsOption

from fowergram.adapters.postgres.signing_keys import SigningKey, SigningKeyStore
from fowergram.domain.auth.ports import AccessClaims
from fowergram.domain.auth.viewer import Role
from fowergram.domain.errors import Unauthenticated

T = TypeVar("T")
LEEWAY_S = 5
# Verifiers kept per key; rotation adds a key now and then: past this, start afresh.
JOSE_KEYS_KEPT = 16
# Keys made before the move to RS256 sign with "EdDSA", which RFC 9864 deprecates (joserfc
# warns on each use); their tokens verify until the key's window closes.
LEGACY_ALGORITHM = "EdDSA"
# Ours are ~650 bytes; anything far larger is not ours and is not worth decoding.
MAX_TOKEN_BYTES = 4096


# Tokens verified lately. A client sends the same token with every request for up to
# its lifetime, and a verification plus decoding costs about a tenth of a small request;
# identical bytes verify identically, so only expiry and the key's standing are checked
# again. Bounded: oldest first out.
VERIFIED_CACHED = 8192


class JwtAccessTokens:
    def __init__(
        self, keys: SigningKeyStore, *, issuer: str, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._wall_clock = wall_clock  # real time: a token's times are real ones
        self._verified: dict[str, tuple[AccessClaims, str]] = {}
        self._jose_keys: dict[tuple[str, bool], RSAKey | OKPKey] = {}  # (kid, private)
        self._registries: dict[str, JWSRegistry] = {}  # one algorithm each
        required: ClaimsOption = {"essential": True}
        self._claim_rules = jwt.JWTClaimsRegistry(
            now=lambda: int(self._wall_clock()),
            leeway=LEEWAY_S,
            iss={"essential": True, "value": issuer},
            exp=required,
            iat=required,
            sub=required,
            sid=required,
            role=required,
            csrf=required,
        )

    async def issue(self, claims: AccessClaims) -> str:
        key = await self._keys.signing_key()
        payload = {
            "iss": self._issuer,
            "sub": str(claims.user_id),
            "sid": claims.session_id,
            "role": claims.role.value,
            "csrf": claims.anti_csrf,
            # Wall-clock time, not the injected Clock: iat and exp are checked against
            # the wall clock, so a token's times must be real ones.
            "iat": int(datetime.now(UTC).timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        }
        header = {"alg": key.algorithm, "kid": key.kid, "typ": "JWT"}
        signer = self._jose_key(key, private=True)
        return _quiet_if_legacy(
            key, lambda: jwt.encode(header, payload, signer, algorithms=[key.algorithm])
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
        """The claims of a token whose signature, issuer and times check out, and its kid.

        joserfc's parts rather than `jwt.decode`: the token is split and its header decoded
        once, and the header names the key it needs before the signature is checked
        against it (`jwt.decode` wants the key first: ~9 µs of ~68 a token saved)."""
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated("access token not issued here")
        try:
            compact = jws.extract_compact(token.encode("ascii"))
        except (JoseError, ValueError, TypeError):  # UnicodeEncodeError is a ValueError
            # (TypeError: a header that is JSON but not an object, e.g. ["alg", "b64"])
            raise Unauthenticated("malformed access token") from None
        header = compact.headers()
        if not isinstance(header, dict):  # "alg" or ["alg"]: joserfc checks only `in`
            raise Unauthenticated("malformed access token")
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
            payload = _quiet_if_legacy(key, lambda: self._verified_payload(compact, key))
            self._claim_rules.validate(payload)
        except ExpiredTokenError:
            raise Unauthenticated("access token expired") from None
        except (JoseError, ValueError, TypeError):
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

    def _verified_payload(self, compact: CompactSignature, key: SigningKey) -> dict[str, Any]:
        """The token's claims once its signature checks out under `key` (JoseError if not)."""
        registry = self._registries.get(key.algorithm)
        if registry is None:
            registry = self._registries[key.algorithm] = JWSRegistry(algorithms=[key.algorithm])
        if not jws.validate_compact(compact, self._jose_key(key), registry=registry):
            raise JoseError("bad signature")
        payload = orjson.loads(compact.payload or b"")
        if not isinstance(payload, dict):
            raise JoseError("claims are not a JSON object")
        return payload

    def _jose_key(self, key: SigningKey, *, private: bool = False) -> RSAKey | OKPKey:
        """joserfc's form of a signing key (the private one to sign), made once per key."""
        known = self._jose_keys.get((key.kid, private))
        if known is None:
            if len(self._jose_keys) >= JOSE_KEYS_KEPT:
                self._jose_keys.clear()
            value = key.private_key if private else key.public_key
            known = (
                RSAKey.import_key(value)
                if isinstance(value, RSAPrivateKey | RSAPublicKey)
                else OKPKey.import_key(value)
            )
            self._jose_keys[(key.kid, private)] = known
        return known


def _quiet_if_legacy(key: SigningKey, action: Callable[[], T]) -> T:
    """joserfc warns at every use of the legacy algorithm: silenced for its keys only."""
    if key.algorithm != LEGACY_ALGORITHM:
        return action()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return action()
