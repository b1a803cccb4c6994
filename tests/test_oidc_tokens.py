"""ID-token validation on tokens signed with keys made here: every claim check, every bad key."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fowergram.adapters.auth.oidc_tokens import IdTokenError, UnknownSigningKey, validate_id_token

ISSUER = "https://id.example.com"
CLIENT_ID = "fowergram"
NONCE = "n0nce-0123456789abcdefghijklmnopqrstuvwxyz"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def jwks(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    rsa_jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    ec_jwk = ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True)
    return {
        "keys": [
            rsa_jwk | {"kid": "rsa-1", "alg": "RS256", "use": "sig"},
            ec_jwk | {"kid": "ec-1", "use": "sig"},
            rsa_jwk | {"kid": "enc-1", "use": "enc"},
        ]
    }


def claims(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "248289761001",
        "aud": CLIENT_ID,
        "exp": NOW + 300,
        "iat": NOW - 5,
        "nonce": NONCE,
        "email": "jane@example.com",
        "email_verified": True,
    } | overrides
    return {name: value for name, value in values.items() if value is not None}


def sign(
    key: Any, payload: dict[str, Any], *, alg: str = "RS256", kid: str | None = "rsa-1"
) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else None)


def validate(token: str, jwks: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "jwks": jwks,
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "nonce": NONCE,
        "now": NOW,
    } | overrides
    return validate_id_token(token, **options)


def test_a_valid_token_gives_its_claims(rsa_key: rsa.RSAPrivateKey, jwks: dict[str, Any]) -> None:
    assert validate(sign(rsa_key, claims()), jwks) == claims()


def test_ec_keys_and_tokens_without_kid(
    ec_key: ec.EllipticCurvePrivateKey, jwks: dict[str, Any]
) -> None:
    assert validate(sign(ec_key, claims(), alg="ES256", kid="ec-1"), jwks)["sub"]
    # Without a kid, the one signing key of the right type is used.
    assert validate(sign(ec_key, claims(), alg="ES256", kid=None), jwks)["sub"]


@pytest.mark.parametrize(
    ("overrides", "leeway_ok"),
    [
        ({"nonce": "another-nonce"}, False),
        ({"nonce": None}, False),
        ({"iss": "https://evil.example.com"}, False),
        ({"iss": ISSUER + "/"}, False),
        ({"aud": "another-client"}, False),
        ({"aud": ["another-client", CLIENT_ID]}, False),  # several audiences need azp
        ({"aud": ["another-client", CLIENT_ID], "azp": "another-client"}, False),
        ({"azp": "another-client"}, False),
        ({"sub": ""}, False),
        ({"sub": None}, False),
        ({"exp": None}, False),
        ({"iat": None}, False),
        ({"exp": "tomorrow"}, False),
        ({"exp": NOW - 61}, False),
        ({"iat": NOW + 61}, False),
        ({"nbf": NOW + 61}, False),
        ({"exp": NOW - 59, "iat": NOW - 3600}, True),  # within the minute of leeway
        ({"aud": ["another-client", CLIENT_ID], "azp": CLIENT_ID}, True),
    ],
)
def test_claims_are_checked(
    rsa_key: rsa.RSAPrivateKey, jwks: dict[str, Any], overrides: dict[str, Any], leeway_ok: bool
) -> None:
    token = sign(rsa_key, claims(**overrides))
    if leeway_ok:
        assert validate(token, jwks)["sub"]
    else:
        with pytest.raises(IdTokenError):
            validate(token, jwks)


def test_a_token_signed_by_another_key_is_refused(jwks: dict[str, Any]) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(IdTokenError, match=r"[Ss]ignature"):
        validate(sign(impostor, claims()), jwks)


def test_a_tampered_token_is_refused(rsa_key: rsa.RSAPrivateKey, jwks: dict[str, Any]) -> None:
    header, _, signature = sign(rsa_key, claims()).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(sub="admin")).encode()).rstrip(b"=")
    with pytest.raises(IdTokenError):
        validate(f"{header}.{forged.decode()}.{signature}", jwks)


def test_unsigned_and_symmetric_tokens_are_refused(jwks: dict[str, Any]) -> None:
    unsigned = jwt.encode(claims(), "", algorithm="none", headers={"kid": "rsa-1"})
    with pytest.raises(IdTokenError, match="not accepted"):
        validate(unsigned, jwks)
    # An HMAC "signed" with the client secret, or with the public key's bytes, is no proof.
    hmac_token = jwt.encode(claims(), "client-secret" * 4, algorithm="HS256")
    with pytest.raises(IdTokenError, match="not accepted"):
        validate(hmac_token, jwks)
    with pytest.raises(IdTokenError, match="not accepted"):
        validate(jwt.encode(claims(), "x" * 32, algorithm="HS256"), jwks, algorithms={"HS256"})


def test_keys_must_fit_the_token(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, jwks: dict[str, Any]
) -> None:
    with pytest.raises(UnknownSigningKey):  # a rotated key: the caller refetches the JWKS
        validate(sign(rsa_key, claims(), kid="rsa-2"), jwks)
    with pytest.raises(UnknownSigningKey):  # encryption keys never verify signatures
        validate(sign(rsa_key, claims(), kid="enc-1"), jwks)
    with pytest.raises(IdTokenError, match="is for RS256"):  # the JWK pins its algorithm
        validate(sign(rsa_key, claims(), alg="RS384"), jwks)
    with pytest.raises(IdTokenError):  # an EC key named by an RSA token
        validate(sign(rsa_key, claims(), kid="ec-1"), jwks)
    with pytest.raises(IdTokenError, match="not accepted"):  # not among the provider's algs
        validate(sign(ec_key, claims(), alg="ES256", kid="ec-1"), jwks, algorithms={"RS256"})
    with pytest.raises(IdTokenError, match="malformed"):
        validate("not.a.jwt", jwks)
