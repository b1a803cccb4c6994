"""Social sign-in through our REST routes, against a real OpenID provider."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from conftest import make_settings
from support.live_server import LiveServer
from support.oidc_browser import sign_in_at_provider
from support.oidc_provider import OidcTestProvider
from support.services import ServiceUrls

from fowergram.app import create_app

pytestmark = pytest.mark.integration

REDIRECT_URI = "http://127.0.0.1:9/auth/callback"  # the web app's page; never contacted
RUN = uuid.uuid4().hex[:8]
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {"email": f"alice-{RUN}@example.com", "email_verified": True, "name": "Alice"},
    "mallory": {"email": f"taken-{RUN}@example.com", "email_verified": False, "name": "M"},
    "carol": {"email": f"carol-{RUN}@example.com", "email_verified": True, "name": "Carol"},
    "victim": {"email": f"victim-{RUN}@example.com", "email_verified": True, "name": "V"},
    "nobody": {"email": f"fresh-{RUN}@example.com", "email_verified": False, "name": "N"},
}


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcTestProvider]:
    with OidcTestProvider(
        client_secret="social-test-secret-0123456789", redirect_uri=REDIRECT_URI, accounts=ACCOUNTS
    ) as running:
        yield running


@pytest.fixture(scope="module")
def server(
    service_urls: ServiceUrls, migrated_database: str, provider: OidcTestProvider
) -> Iterator[LiveServer]:
    settings = make_settings(
        service_urls,
        migrated_database,
        oidc_name="acme",
        oidc_issuer=provider.issuer,
        oidc_client_id=provider.client_id,
        oidc_client_secret=provider.client_secret,
        oauth_redirect_uris=REDIRECT_URI,
    )
    with LiveServer(create_app(settings), settings) as live:
        yield live


@pytest.fixture
async def api(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        yield client


async def _callback(api: httpx.AsyncClient, login: str) -> dict[str, str]:
    """The provider's answer (code, state) and our flow secret, as an app would hold them."""
    start = await api.post("/auth/oauth/acme/start", json={"redirectUri": REDIRECT_URI})
    assert start.status_code == 200, start.text
    callback = await sign_in_at_provider(
        start.json()["authorizationUrl"], login=login, redirect_uri=REDIRECT_URI
    )
    return callback | {"flowSecret": start.json()["flowSecret"]}


async def _social_sign_in(api: httpx.AsyncClient, login: str) -> httpx.Response:
    callback = await _callback(api, login)
    body = {key: callback[key] for key in ("code", "state", "flowSecret")}
    return await api.post("/auth/oauth/acme/callback", json=body)


async def test_providers_are_listed(api: httpx.AsyncClient) -> None:
    assert (await api.get("/auth/oauth/providers")).json() == {"providers": ["acme"]}


async def test_first_sign_in_creates_a_verified_account_and_the_next_finds_it(
    api: httpx.AsyncClient,
) -> None:
    first = await _social_sign_in(api, "alice")
    assert first.status_code == 200, first.text
    user = first.json()["user"]
    assert user["email"] == ACCOUNTS["alice"]["email"]
    assert user["username"].startswith("alice")
    assert user["emailVerified"] is True
    assert first.json()["accessToken"]

    again = await _social_sign_in(api, "alice")
    assert again.json()["user"]["id"] == user["id"]


async def test_verified_email_links_to_the_existing_verified_account(
    api: httpx.AsyncClient, migrated_database: str
) -> None:
    signup = await api.post(
        "/auth/signup",
        json={"email": ACCOUNTS["carol"]["email"], "username": f"carol{RUN}", "password": "p" * 12},
    )
    existing_id = signup.json()["user"]["id"]
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET email_verified_at = now() WHERE id = %s", (int(existing_id),)
        )
    linked = await _social_sign_in(api, "carol")
    assert linked.json()["user"]["id"] == existing_id
    with psycopg.connect(migrated_database) as conn:
        row = conn.execute(
            "SELECT provider FROM oauth_identities WHERE user_id = %s", (int(existing_id),)
        ).fetchone()
    assert row == ("acme",)


async def test_a_squatters_unverified_account_is_never_linked(api: httpx.AsyncClient) -> None:
    # Someone signed up with the victim's address (never verified), hoping to share the
    # account once the victim signs in with the provider.
    squatter = await api.post(
        "/auth/signup",
        json={
            "email": ACCOUNTS["victim"]["email"],
            "username": f"squat{RUN}",
            "password": "p" * 12,
        },
    )
    assert squatter.status_code == 201
    attempt = await _social_sign_in(api, "victim")
    assert attempt.status_code == 409
    assert attempt.json()["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "email"}


async def test_an_unverified_provider_email_creates_nothing(api: httpx.AsyncClient) -> None:
    attempt = await _social_sign_in(api, "nobody")
    assert attempt.status_code == 409
    taken = await api.post(
        "/auth/signup",
        json={
            "email": ACCOUNTS["nobody"]["email"],
            "username": f"fresh{RUN}",
            "password": "p" * 12,
        },
    )
    assert taken.status_code == 201  # the address is still free for its owner


async def test_a_callback_needs_the_flow_secret_of_whoever_started(
    api: httpx.AsyncClient, server: LiveServer
) -> None:
    callback = await _callback(api, "alice")
    body = {"code": callback["code"], "state": callback["state"]}
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as victim:
        forced = await victim.post("/auth/oauth/acme/callback", json=body)  # login CSRF
        assert forced.status_code == 401
    wrong = await api.post("/auth/oauth/acme/callback", json=body | {"flowSecret": "guess"})
    assert wrong.status_code == 401


async def test_a_browser_carries_the_flow_secret_as_a_cookie(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as browser:
        start = await browser.post("/auth/oauth/acme/start", json={"redirectUri": REDIRECT_URI})
        assert "fg_oauth_flow" in start.headers["set-cookie"]
        assert "HttpOnly" in start.headers["set-cookie"]
        callback = await sign_in_at_provider(
            start.json()["authorizationUrl"], login="alice", redirect_uri=REDIRECT_URI
        )
        done = await browser.post(
            "/auth/oauth/acme/callback",
            json={"code": callback["code"], "state": callback["state"]},
        )
    assert done.status_code == 200, done.text


async def test_starts_are_throttled_per_address(server: LiveServer) -> None:
    headers = {"x-forwarded-for": f"10.99.{uuid.uuid4().int % 250}.7"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as client:
        statuses = [
            (
                await client.post("/auth/oauth/acme/start", json={"redirectUri": REDIRECT_URI})
            ).status_code
            for _ in range(31)
        ]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429


async def test_unverified_email_never_takes_over_an_account(api: httpx.AsyncClient) -> None:
    victim = await api.post(
        "/auth/signup",
        json={
            "email": ACCOUNTS["mallory"]["email"],
            "username": f"victim{RUN}",
            "password": "p" * 12,
        },
    )
    assert victim.status_code == 201
    attempt = await _social_sign_in(api, "mallory")
    assert attempt.status_code == 409
    assert attempt.json()["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "email"}


async def test_a_state_is_good_for_one_callback(api: httpx.AsyncClient) -> None:
    callback = await _callback(api, "alice")
    body = {key: callback[key] for key in ("code", "state", "flowSecret")}
    assert (await api.post("/auth/oauth/acme/callback", json=body)).status_code == 200
    replay = await api.post("/auth/oauth/acme/callback", json=body)
    assert replay.status_code == 401


async def test_forged_state_and_code_are_refused(api: httpx.AsyncClient) -> None:
    callback = await _callback(api, "alice")
    secret = callback["flowSecret"]
    forged_state = await api.post(
        "/auth/oauth/acme/callback",
        json={"code": callback["code"], "state": "forged", "flowSecret": secret},
    )
    assert forged_state.status_code == 401
    forged_code = await api.post(
        "/auth/oauth/acme/callback",
        json={"code": "forged", "state": callback["state"], "flowSecret": secret},
    )
    assert forged_code.status_code == 401
    assert forged_code.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_redirect_uris_must_be_allowlisted(api: httpx.AsyncClient) -> None:
    for uri in ("https://evil.example/steal", f"{REDIRECT_URI}?x=1", ""):
        response = await api.post("/auth/oauth/acme/start", json={"redirectUri": uri})
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["field"] == "redirectUri"


async def test_unknown_provider_is_404(api: httpx.AsyncClient) -> None:
    response = await api.post("/auth/oauth/nope/start", json={"redirectUri": REDIRECT_URI})
    assert response.status_code == 404


async def test_graphql_social_sign_in(api: httpx.AsyncClient) -> None:
    start = await api.post(
        "/graphql",
        json={
            "query": 'mutation($r: String!) { oauthStart(provider: "acme", redirectUri: $r) '
            "{ authorizationUrl flowSecret } }",
            "variables": {"r": REDIRECT_URI},
        },
    )
    started = start.json()["data"]["oauthStart"]
    callback = await sign_in_at_provider(
        started["authorizationUrl"], login="alice", redirect_uri=REDIRECT_URI
    )
    done = await api.post(
        "/graphql",
        json={
            "query": "mutation($c: String!, $s: String!, $f: String!) "
            '{ oauthCallback(provider: "acme", code: $c, state: $s, flowSecret: $f) '
            "{ account { email emailVerified } accessToken } }",
            "variables": {
                "c": callback["code"],
                "s": callback["state"],
                "f": started["flowSecret"],
            },
        },
    )
    payload = done.json()["data"]["oauthCallback"]
    assert payload["account"] == {"email": ACCOUNTS["alice"]["email"], "emailVerified": True}
    assert payload["accessToken"]
