"""ID-token validation (OpenID Connect Core 1.0, section 3.1.3.7), as a pure function.

The signature is checked by PyJWT against a key from the provider's JWKS; then `iss` (exact),
`aud` (contains our client id; `azp` when present or when there are several audiences), `exp`,
`iat` and `nbf` (against the `now` given, with leeway) and `nonce` (constant-time). Only
asymmetric algorithms are accepted: never `none`, never an HMAC keyed with the client secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
from typing import Any

import jwt

ASYMMETRIC_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat"]


class IdTokenError(Exception):
    """The ID token is not acceptable; the message says why (for logs, not for end users)."""


class UnknownSigningKey(IdTokenError):
    """No key in the JWKS fits the token: the provider may have rotated its keys."""


def validate_id_token(
    token: str,
    *,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    nonce: str | None,
    now: float,
    leeway: float = 60.0,
    algorithms: Collection[str] = ASYMMETRIC_ALGORITHMS,
) -> dict[str, Any]:
    """Return the token's claims once every check has passed; raise `IdTokenError` otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise IdTokenError(f"malformed token: {exc}") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in ASYMMETRIC_ALGORITHMS:
        raise IdTokenError(f"signing algorithm {alg!r} is not accepted")
    key = _signing_key(jwks, header.get("kid"), alg)
    try:
        claims = jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            audience=client_id,
            issuer=issuer,
            options={
                "require": _REQUIRED_CLAIMS,
                # Time is checked below against the injected clock.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise IdTokenError(f"rejected: {exc}") from None
    _check_claims(claims, client_id=client_id, nonce=nonce, now=now, leeway=leeway)
    return claims


def _signing_key(jwks: Mapping[str, Any], kid: object, alg: str) -> jwt.PyJWK:
    keys = jwks.get("keys")
    candidates = [
        jwk
        for jwk in (keys if isinstance(keys, list) else [])
        if isinstance(jwk, dict) and jwk.get("use", "sig") == "sig"
    ]
    if kid is not None:
        matches = [jwk for jwk in candidates if jwk.get("kid") == kid]
    else:
        kty = _KEY_TYPES.get(alg[:2])
        matches = [
            jwk for jwk in candidates if jwk.get("kty") == kty and jwk.get("alg", alg) == alg
        ]
    if not matches:
        raise UnknownSigningKey(f"no signing key with kid {kid!r} for {alg}")
    if len(matches) > 1:
        raise IdTokenError(f"several signing keys fit kid {kid!r}")
    jwk = matches[0]
    if jwk.get("alg", alg) != alg:
        raise IdTokenError(f"key {kid!r} is for {jwk.get('alg')}, the token says {alg}")
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except jwt.PyJWTError as exc:
        raise IdTokenError(f"unusable key {kid!r}: {exc}") from None


def _check_claims(
    claims: Mapping[str, Any], *, client_id: str, nonce: str | None, now: float, leeway: float
) -> None:
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub:
        raise IdTokenError("sub must be a non-empty string")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise IdTokenError("azp is not our client id")
    exp, iat = _number(claims, "exp"), _number(claims, "iat")
    if now > exp + leeway:
        raise IdTokenError("expired")
    if iat > now + leeway:
        raise IdTokenError("issued in the future")
    if "nbf" in claims and _number(claims, "nbf") > now + leeway:
        raise IdTokenError("not valid yet")
    if nonce is not None:
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise IdTokenError("nonce mismatch")


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdTokenError(f"{name} must be a number")
    return float(value)
