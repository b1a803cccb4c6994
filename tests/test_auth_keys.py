"""Signing-key rotation on a real database, with a fake clock: old tokens keep verifying until
their key's window closes, and instances sharing the database agree on the keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from support.auth_helpers import b64url, jwt_header, jwt_payload
from support.services import ServiceUrls, create_database, drop_database

from fowergram.adapters.auth.jwt_tokens import JwtAccessTokens
from fowergram.adapters.postgres import pool as pg_pool
from fowergram.adapters.postgres.migrations import Migrator
from fowergram.adapters.postgres.signing_keys import SigningKeyStore
from fowergram.config import DEFAULT_MIGRATIONS_DIR
from fowergram.domain.auth.ports import AccessClaims
from fowergram.domain.auth.viewer import Role
from fowergram.domain.errors import Unauthenticated

ROTATION = timedelta(hours=1)
GRACE = timedelta(minutes=20)  # access-token lifetime plus skew
ISSUER = "fowergram-keys-test"


class FakeClock:
    def __init__(self) -> None:
        self._now = datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


@pytest.fixture(scope="module")
def keys_database(service_urls: ServiceUrls) -> Iterator[str]:
    url = create_database(service_urls.database_server, prefix="fg_keys")
    Migrator(url, DEFAULT_MIGRATIONS_DIR).up()
    yield url
    drop_database(service_urls.database_server, url)


@pytest.fixture
async def pool(keys_database: str) -> AsyncIterator[asyncpg.Pool]:
    # The application's own pool factory: it installs the jsonb codec the store relies on.
    pool = await pg_pool.create_pool(keys_database, min_size=1, max_size=4)
    try:
        await pool.execute("DELETE FROM signing_keys")  # each test starts with no key
        yield pool
    finally:
        await pool.close()


def _store(pool: asyncpg.Pool, clock: FakeClock, **options: float) -> SigningKeyStore:
    return SigningKeyStore(pool, clock, rotation=ROTATION, verify_grace=GRACE, **options)


def _claims(user_id: int = 42) -> AccessClaims:
    # Real time for `exp`: PyJWT checks it against the wall clock, the store against `clock`.
    expires_at = (datetime.now(UTC) + timedelta(minutes=15)).replace(microsecond=0)
    return AccessClaims(user_id, str(uuid.uuid4()), Role.USER, "anti-csrf", expires_at)


def _kid(token: str) -> str:
    kid: str = jwt_header(token)["kid"]
    return kid


async def _kids_published(store: SigningKeyStore) -> list[str]:
    return [key["kid"] for key in (await store.jwks())["keys"]]


async def test_a_token_signed_before_rotation_verifies_after_it(pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    store = _store(pool, clock)
    tokens = JwtAccessTokens(store, issuer=ISSUER)
    claims = _claims()
    before = await tokens.issue(claims)
    old_kid = _kid(before)

    clock.advance(timedelta(minutes=1))
    new_key = await store.rotate_now()
    after = await tokens.issue(_claims())

    assert new_key.kid != old_kid
    assert _kid(after) == new_key.kid  # the new key signs at once
    assert await tokens.verify(before) == claims
    assert (await tokens.verify(after)).user_id == 42
    assert await _kids_published(store) == [new_key.kid, old_kid]  # newest first
    assert all("d" not in key for key in (await store.jwks())["keys"])


async def _insert_legacy_eddsa_key(pool: asyncpg.Pool, clock: FakeClock) -> str:
    """An EdDSA key as the releases before RS256 made them, still inside its windows."""
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    kid = "legacy" + uuid.uuid4().hex[:10]
    jwk = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk |= {"kid": kid, "alg": "EdDSA", "use": "sig"}
    now = clock.now()
    await pool.execute(
        "INSERT INTO signing_keys (kid, algorithm, private_pem, public_jwk, created_at,"
        " signs_until, verifies_until) VALUES ($1, 'EdDSA', $2, $3, $4, $5, $6)",
        kid,
        pem,
        jwk,
        now - timedelta(minutes=50),
        now + timedelta(minutes=10),
        now + timedelta(minutes=10) + GRACE,
    )
    return kid


async def test_tokens_of_an_eddsa_key_keep_verifying_after_the_move_to_rs256(
    pool: asyncpg.Pool,
) -> None:
    clock = FakeClock()
    legacy_kid = await _insert_legacy_eddsa_key(pool, clock)
    store = _store(pool, clock)
    tokens = JwtAccessTokens(store, issuer=ISSUER)
    legacy_token = await tokens.issue(_claims(7))  # the only key: it still signs
    assert (jwt_header(legacy_token)["alg"], _kid(legacy_token)) == ("EdDSA", legacy_kid)

    new_key = await store.rotate_now()  # a deployment rotates: the new key is RS256
    assert new_key.algorithm == "RS256"
    fresh = await tokens.issue(_claims(8))
    assert (jwt_header(fresh)["alg"], _kid(fresh)) == ("RS256", new_key.kid)

    # Nobody is logged out: both verify, with a verifier that never saw either token.
    verifier = JwtAccessTokens(_store(pool, clock), issuer=ISSUER)
    assert (await verifier.verify(legacy_token)).user_id == 7
    assert (await verifier.verify(fresh)).user_id == 8
    jwks = {key["kid"]: key for key in (await store.jwks())["keys"]}
    assert (jwks[new_key.kid]["kty"], jwks[new_key.kid]["alg"]) == ("RSA", "RS256")
    assert (jwks[legacy_kid]["kty"], jwks[legacy_kid]["alg"]) == ("OKP", "EdDSA")

    # Each key answers for its own algorithm only: an RS256 signature under the EdDSA
    # key's kid, or an EdDSA one under the RSA key's kid, is refused.
    legacy_key = await store.verification_key(legacy_kid)
    assert legacy_key is not None
    payload = jwt_payload(fresh)
    crossed = [
        jwt.encode(payload, new_key.private_key, "RS256", {"kid": legacy_kid}),
        jwt.encode(payload, legacy_key.private_key, "EdDSA", {"kid": new_key.kid}),
    ]
    for token in crossed:
        with pytest.raises(Unauthenticated):
            await verifier.verify(token)


async def test_a_key_whose_row_does_not_match_its_algorithm_is_refused_at_load(
    pool: asyncpg.Pool,
) -> None:
    clock = FakeClock()
    legacy_kid = await _insert_legacy_eddsa_key(pool, clock)
    await pool.execute("UPDATE signing_keys SET algorithm = 'RS256' WHERE kid = $1", legacy_kid)
    with pytest.raises(ValueError, match="is not an RS256 key"):
        await _store(pool, clock).jwks()


async def test_a_key_past_its_verification_window_is_neither_accepted_nor_published(
    pool: asyncpg.Pool,
) -> None:
    clock = FakeClock()
    store = _store(pool, clock)
    tokens = JwtAccessTokens(store, issuer=ISSUER)
    old_token = await tokens.issue(_claims())
    old_key = await store.verification_key(_kid(old_token))
    assert old_key is not None
    assert old_key.verifies_until == old_key.signs_until + GRACE

    clock.advance(timedelta(minutes=30))
    new_key = await store.rotate_now()
    clock.advance(old_key.verifies_until - clock.now())  # exactly at the end of the window
    with pytest.raises(Unauthenticated):
        await tokens.verify(old_token)

    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated):
        await tokens.verify(old_token)
    assert await store.verification_key(old_key.kid) is None
    assert await _kids_published(store) == [new_key.kid]
    # The new key still signs and verifies.
    assert _kid(fresh := await tokens.issue(_claims(7))) == new_key.kid
    assert (await tokens.verify(fresh)).user_id == 7
    # Even an instance that starts now (nothing cached) refuses the old key.
    newcomer = JwtAccessTokens(_store(pool, clock), issuer=ISSUER)
    with pytest.raises(Unauthenticated):
        await newcomer.verify(old_token)


async def test_a_new_key_is_made_when_the_signing_window_closes(pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    store = _store(pool, clock)
    tokens = JwtAccessTokens(store, issuer=ISSUER)
    first = await tokens.issue(_claims())

    clock.advance(ROTATION + timedelta(seconds=1))
    second = await tokens.issue(_claims())

    assert _kid(second) != _kid(first)
    assert (await tokens.verify(first)).user_id == 42  # within the grace period
    assert await _kids_published(store) == [_kid(second), _kid(first)]
    count = await pool.fetchval("SELECT count(*) FROM signing_keys")
    assert count == 2


async def test_two_instances_on_one_database_agree(pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    # Each instance caches keys for a minute; an unknown kid makes it look again (at once here:
    # the throttle on those reloads is what `miss_refresh_s` sets).
    store_a = _store(pool, clock, miss_refresh_s=0.0)
    store_b = _store(pool, clock, miss_refresh_s=0.0)
    tokens_a = JwtAccessTokens(store_a, issuer=ISSUER)
    tokens_b = JwtAccessTokens(store_b, issuer=ISSUER)

    from_a = await tokens_a.issue(_claims(1))
    assert (await tokens_b.verify(from_a)).user_id == 1
    from_b = await tokens_b.issue(_claims(2))
    assert _kid(from_b) == _kid(from_a)  # B uses A's key instead of making its own
    assert (await tokens_a.verify(from_b)).user_id == 2

    # B rotates; A has the old set cached and meets the new kid first in a token.
    clock.advance(timedelta(minutes=1))
    rotated = await store_b.rotate_now()
    from_b_after = await tokens_b.issue(_claims(3))
    assert _kid(from_b_after) == rotated.kid
    assert (await tokens_a.verify(from_b_after)).user_id == 3
    # Having reloaded, A publishes both keys and signs with the new one as well.
    assert await _kids_published(store_a) == [rotated.kid, _kid(from_a)]
    assert _kid(await tokens_a.issue(_claims(4))) == rotated.kid
    # And both still accept what was signed before the rotation.
    assert (await tokens_a.verify(from_a)).user_id == 1
    assert (await tokens_b.verify(from_a)).user_id == 1

    # A kid nobody made is refused by both.
    forged_kid = jwt.encode(
        {"sub": "1"},
        (key := await store_a.signing_key()).private_key,
        key.algorithm,
        {"kid": "nope"},
    )
    for tokens in (tokens_a, tokens_b):
        with pytest.raises(Unauthenticated):
            await tokens.verify(forged_kid)


async def test_instances_rolling_over_together_accept_each_others_keys(
    pool: asyncpg.Pool,
) -> None:
    clock = FakeClock()
    stores = [_store(pool, clock, miss_refresh_s=0.0) for _ in range(3)]
    issuers = [JwtAccessTokens(store, issuer=ISSUER) for store in stores]
    await asyncio.gather(*(tokens.issue(_claims()) for tokens in issuers))

    clock.advance(ROTATION + timedelta(seconds=1))  # every instance's key stops signing at once
    signed = await asyncio.gather(*(t.issue(_claims(n)) for n, t in enumerate(issuers)))

    for n, token in enumerate(signed):
        for tokens in issuers:
            assert (await tokens.verify(token)).user_id == n


async def test_a_token_verified_before_is_checked_again_for_expiry_and_key(
    pool: asyncpg.Pool,
) -> None:
    clock = FakeClock()
    store = _store(pool, clock)
    wall = [datetime.now(UTC).timestamp()]
    tokens = JwtAccessTokens(store, issuer=ISSUER, wall_clock=lambda: wall[0])
    claims = _claims()
    token = await tokens.issue(claims)
    assert await tokens.verify(token) == claims
    assert await tokens.verify(token) == claims  # the second time from the cache

    wall[0] = claims.expires_at.timestamp() + 60
    with pytest.raises(Unauthenticated, match="expired"):
        await tokens.verify(token)

    wall[0] = datetime.now(UTC).timestamp()
    assert await tokens.verify(token) == claims
    key = await store.verification_key(_kid(token))
    assert key is not None
    await store.rotate_now()
    clock.advance(key.verifies_until - clock.now() + timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="unknown key"):
        await tokens.verify(token)


async def test_a_re_read_parses_only_keys_it_has_not_parsed_yet(pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    store = _store(pool, clock, refresh_s=1e-9)  # every call re-reads
    tokens = JwtAccessTokens(store, issuer=ISSUER)
    first = await store.verification_key(_kid(await tokens.issue(_claims())))
    assert first is not None
    again = await store.verification_key(first.kid)
    assert again is not None
    assert again.private_key is first.private_key  # re-read, not re-parsed
    rotated = await store.rotate_now()
    kept = await store.verification_key(first.kid)
    assert kept is not None
    assert kept.private_key is first.private_key
    assert rotated.private_key is not first.private_key


async def test_callers_finding_the_cache_stale_together_share_one_re_read(
    pool: asyncpg.Pool,
) -> None:
    clock = FakeClock()
    store = _store(pool, clock, refresh_s=1e-9)
    kid = (await store.signing_key()).kid
    reads = 0
    read = store._reload

    async def counted() -> None:
        nonlocal reads
        reads += 1
        await read()

    store._reload = counted  # type: ignore[method-assign]
    found = await asyncio.gather(*(store.verification_key(kid) for _ in range(20)))
    assert all(key is not None and key.kid == kid for key in found)
    assert reads == 1


async def test_a_key_row_changed_after_parsing_is_checked_again(pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    legacy_kid = await _insert_legacy_eddsa_key(pool, clock)
    store = _store(pool, clock, refresh_s=1e-9)
    assert await store.verification_key(legacy_kid) is not None
    await pool.execute("UPDATE signing_keys SET algorithm = 'RS256' WHERE kid = $1", legacy_kid)
    with pytest.raises(ValueError, match="is not an RS256 key"):
        await store.jwks()


async def test_tokens_no_http_header_carries_are_refused_with_a_reason(
    pool: asyncpg.Pool,
) -> None:
    # A socket's connection_init carries any Unicode; a token there is checked by the same
    # verifier. Each is refused as the kind of failure it is, not with a 500.
    store = _store(pool, FakeClock())
    tokens = JwtAccessTokens(store, issuer=ISSUER)
    genuine = await tokens.issue(_claims())
    header, _, rest = genuine.partition(".")
    key = (await store.signing_key()).private_key
    assert isinstance(key, rsa.RSAPrivateKey)

    def signed_over(raw_payload: bytes) -> str:
        signing_input = f"{header}.{b64url(raw_payload)}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    refusals = {
        genuine[:10] + "\u00e9" + genuine[10:]: "malformed access token",
        genuine.replace(".", "\u2024", 1): "malformed access token",  # ONE DOT LEADER
        "\u202e" + genuine: "malformed access token",
        # The real key's signature over claims that are not a JSON object.
        signed_over(b"[1]"): "access token invalid",
        signed_over(b'"sub"'): "access token invalid",
        signed_over(b"{not json"): "access token invalid",
    }
    # Headers that are JSON holding "alg" but not an object (joserfc checks only `in`).
    for odd_header in (b'"alg"', b'["alg"]', b'["alg", "b64"]', b'"algb64"'):
        refusals[b64url(odd_header) + "." + rest] = "malformed access token"
    for token, reason in refusals.items():
        with pytest.raises(Unauthenticated, match=reason):
            await tokens.verify(token)
    assert (await tokens.verify(genuine)).user_id == 42  # the control
