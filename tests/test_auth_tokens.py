"""Forged, expired and confused access tokens are refused on REST and GraphQL alike; real ones
verify anywhere with the published JWKS."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.auth_helpers import (
    b64url,
    b64url_json,
    bearer,
    error_of,
    http_client,
    jwt_header,
    jwt_payload,
    new_person,
    sign_up,
)
from support.live_server import LiveServer

ISSUER = "fowergram"  # the default JWT_ISSUER the shared server runs with


@dataclass(frozen=True, slots=True)
class Victim:
    """A real session, and the server's real signing key (read from its database)."""

    user_id: str
    session_id: str
    access_token: str
    kid: str
    private_key: rsa.RSAPrivateKey

    def claims(self, **changes: object) -> dict[str, Any]:
        return jwt_payload(self.access_token) | changes

    def signed(
        self, claims: dict[str, Any], *, kid: str | None = None, algorithm: str = "RS256"
    ) -> str:
        return jwt.encode(
            claims, self.private_key, algorithm=algorithm, headers={"kid": kid or self.kid}
        )

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_der(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _signing_key(database_url: str, kid: str) -> rsa.RSAPrivateKey:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT private_pem FROM signing_keys WHERE kid = %s", (kid,)).fetchone()
    assert row is not None, f"no signing key {kid} in the test database"
    key = serialization.load_pem_private_key(row[0].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _foreign_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def victim(live_server: LiveServer, migrated_database: str) -> Victim:
    with http_client(live_server.http_url) as client:
        body = sign_up(client, new_person())
    kid = jwt_header(body["accessToken"])["kid"]
    return Victim(
        user_id=body["user"]["id"],
        session_id=body["sessionId"],
        access_token=body["accessToken"],
        kid=kid,
        private_key=_signing_key(migrated_database, kid),
    )


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with http_client(live_server.http_url) as client:
        yield client


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64url_json(header)}.{b64url_json(claims)}.{b64url(signature)}"


def _hmac_signed(victim: Victim, secret: bytes) -> str:
    """Key confusion: HS256 keyed with the (public!) verification key."""
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT', 'kid': victim.kid})}"
    signing_input += f".{b64url_json(victim.claims())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _tampered(victim: Victim) -> str:
    header, _, signature = victim.access_token.split(".")
    other_user = str(int(victim.user_id) + 1)
    return f"{header}.{b64url_json(victim.claims(sub=other_user))}.{signature}"


def _expired(victim: Victim) -> str:
    now = int(time.time())
    return victim.signed(victim.claims(iat=now - 3600, exp=now - 60))


ATTACKS: dict[str, Callable[[Victim], str]] = {
    "foreign-key-under-real-kid": lambda v: jwt.encode(
        v.claims(), _foreign_rsa_key(), algorithm="RS256", headers={"kid": v.kid}
    ),
    "eddsa-under-real-kid": lambda v: jwt.encode(
        v.claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": v.kid}
    ),
    # Real signatures by the real key, with another algorithm than the key's own.
    "ps256-by-the-real-key": lambda v: v.signed(v.claims(), algorithm="PS256"),
    "rs512-by-the-real-key": lambda v: v.signed(v.claims(), algorithm="RS512"),
    "expired": _expired,
    "issued-in-the-future": lambda v: v.signed(v.claims(iat=int(time.time()) + 3600)),
    # Characters outside base64url's alphabet, which lax decoders skip (GHSA-hxm8-2xgr-2p9m).
    "junk-in-the-signature": lambda v: v.access_token[:-8] + "!!" + v.access_token[-8:],
    "alg-none": lambda v: _unsigned({"alg": "none", "typ": "JWT", "kid": v.kid}, v.claims()),
    "alg-none-with-signature": lambda v: _unsigned(
        {"alg": "none", "kid": v.kid}, v.claims(), b"x" * 64
    ),
    "unknown-kid": lambda v: v.signed(v.claims(), kid="0123456789abcdef"),
    "tampered-sub": _tampered,
    "hs256-public-key-pem": lambda v: _hmac_signed(v, v.public_pem()),
    "hs256-public-key-der": lambda v: _hmac_signed(v, v.public_der()),
    "wrong-issuer": lambda v: v.signed(v.claims(iss="someone-else")),
    "no-session-claim": lambda v: v.signed({k: x for k, x in v.claims().items() if k != "sid"}),
    "non-numeric-sub": lambda v: v.signed(v.claims(sub="admin")),
    "unknown-role": lambda v: v.signed(v.claims(role="superuser")),
    "signature-stripped": lambda v: v.access_token.rsplit(".", 1)[0] + ".",
    "garbage": lambda v: "garbage",
    "three-garbage-parts": lambda v: "a.b.c",
    "non-object-header": lambda v: f"{b64url(b'[1]')}.{b64url_json(v.claims())}.AAAA",
    "non-json-header": lambda v: f"{b64url(b'{kid')}.{b64url_json(v.claims())}.AAAA",
    "non-string-kid": lambda v: _unsigned({"alg": "RS256", "kid": 7}, v.claims(), b"x" * 256),
}


def _refused_everywhere(client: httpx.Client, headers: dict[str, str]) -> None:
    rest = client.get("/auth/sessions", headers=headers)
    assert error_of(rest, 401)["extensions"] == {"code": "UNAUTHENTICATED"}
    graph = client.post("/graphql", json={"query": "{ me { id } }"}, headers=headers)
    assert error_of(graph, 401)["extensions"] == {"code": "UNAUTHENTICATED"}


def test_the_real_token_is_accepted(client: httpx.Client, victim: Victim) -> None:
    # The control for every attack below: the same requests with the genuine token succeed.
    headers = bearer(victim.access_token)
    listed = client.get("/auth/sessions", headers=headers)
    assert listed.status_code == 200, listed.text  # (once seen failing in CI: say why)
    sessions = listed.json()["sessions"]
    assert [s["id"] for s in sessions] == [victim.session_id]
    graph = client.post("/graphql", json={"query": "{ me { id } }"}, headers=headers)
    assert graph.json() == {"data": {"me": {"id": victim.user_id}}}
    # ... and a token we sign ourselves with the real key and claims is accepted too, so the
    # attacks below fail for the one thing each of them changes.
    resigned = victim.signed(victim.claims())
    assert client.get("/auth/sessions", headers=bearer(resigned)).status_code == 200


@pytest.mark.parametrize("forge", ATTACKS.values(), ids=ATTACKS.keys())
def test_forged_tokens_are_refused(
    client: httpx.Client, victim: Victim, forge: Callable[[Victim], str]
) -> None:
    _refused_everywhere(client, bearer(forge(victim)))


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNzd29yZA==", "Bearer", "Token abc", "Negotiate YIIGhgYGKwYBBQUCoI", "bearer"],
)
def test_other_authorization_schemes_are_refused(
    client: httpx.Client, victim: Victim, authorization: str
) -> None:
    _refused_everywhere(client, {"authorization": authorization})


def test_the_real_key_is_refused_after_sign_out_even_for_tokens_signed_later(
    client: httpx.Client, live_server: LiveServer, migrated_database: str
) -> None:
    # Revocation is by session, not by token: a fresh signature cannot revive the session.
    body = sign_up(client, new_person())
    key = _signing_key(migrated_database, jwt_header(body["accessToken"])["kid"])
    assert client.post("/auth/signout", headers=bearer(body["accessToken"])).status_code == 200
    revived = jwt.encode(
        jwt_payload(body["accessToken"]) | {"iat": int(time.time())},
        key,
        algorithm="RS256",
        headers={"kid": jwt_header(body["accessToken"])["kid"]},
    )
    _refused_everywhere(client, bearer(revived))


def test_tokens_verify_externally_with_the_published_jwks(
    live_server: LiveServer, client: httpx.Client
) -> None:
    body = sign_up(client, new_person())
    token = body["accessToken"]

    response = client.get("/auth/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    jwks = response.json()
    for key in jwks["keys"]:
        assert {"kty", "n", "e", "kid"} <= set(key)
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # never the private part
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")

    # As a third party would: PyJWT's JWKS client fetches the set and picks the key by kid.
    jwks_client = jwt.PyJWKClient(f"{live_server.http_url}/auth/jwks.json", timeout=10)
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], issuer=ISSUER)
    assert claims["sub"] == body["user"]["id"]
    assert claims["sid"] == body["sessionId"]
    assert claims["role"] == "user"
    assert claims["exp"] > time.time()
    assert signing_key.key_id == jwt_header(token)["kid"]

    # The set verifies nothing else: a foreign signature under the same kid fails.
    forged = jwt.encode(
        claims, _foreign_rsa_key(), algorithm="RS256", headers={"kid": signing_key.key_id}
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, signing_key.key, algorithms=["RS256"], issuer=ISSUER)


def test_an_oversized_token_is_refused_cheaply(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.http_url, timeout=10) as client:
        response = client.get("/auth/sessions", headers={"authorization": "Bearer " + "a" * 5000})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
