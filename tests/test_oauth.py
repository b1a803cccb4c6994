"""Social sign-in against a real OpenID provider (node oidc-provider); GitHub by its API shapes.

The browser is played by httpx: it follows the authorization URL, fills in the provider's login
and consent forms and stops at the redirect to our callback. GitHub cannot be reached from the
tests, so its three endpoints are answered by an `httpx.MockTransport` with GitHub's documented
JSON; our own adapter runs unchanged in both cases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import (  # type: ignore[import-untyped, unused-ignore]
    create_s256_code_challenge,
)
from support.oidc_browser import sign_in_at_provider
from support.oidc_provider import OidcTestProvider

from fowergram.adapters.auth.oauth import (
    ExternalIdentity,
    OAuthClient,
    OAuthError,
    OAuthProvider,
    PendingAuthorization,
    providers_from_settings,
)

REDIRECT_URI = "http://127.0.0.1:9/auth/oauth/test/callback"  # never contacted
CLIENT_SECRET = "test-client-secret-0123456789"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {"email": "alice@example.com", "email_verified": True, "name": "Alice Liddell"},
    "bob": {"email": "bob@example.org", "email_verified": False, "name": "Bob"},
}

integration = pytest.mark.integration


# -- the real provider ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcTestProvider]:
    """Claims in userinfo only, as many providers do."""
    with OidcTestProvider(
        client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI, accounts=ACCOUNTS
    ) as running:
        yield running


@pytest.fixture(scope="module")
def provider_with_id_token_claims() -> Iterator[OidcTestProvider]:
    """Claims in the ID token too, as Google does."""
    with OidcTestProvider(
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        accounts=ACCOUNTS,
        id_token_claims=True,
    ) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def oidc_config(provider: OidcTestProvider, **overrides: Any) -> OAuthProvider:
    values: dict[str, Any] = {
        "name": "test",
        "kind": "oidc",
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "scopes": ("openid", "email", "profile"),
        "issuer": provider.issuer,
    } | overrides
    return OAuthProvider(**values)


def oauth_client(
    provider: OidcTestProvider, http: httpx.AsyncClient, **overrides: Any
) -> OAuthClient:
    return OAuthClient({"test": oidc_config(provider, **overrides)}, http)


async def sign_in(url: str, *, login: str) -> dict[str, str]:
    return await sign_in_at_provider(url, login=login, redirect_uri=REDIRECT_URI)


async def authorize(client: OAuthClient, *, login: str) -> tuple[PendingAuthorization, str]:
    """begin + the user's sign-in: the pending authorization and the callback's code."""
    url, pending = await client.begin("test", REDIRECT_URI)
    callback = await sign_in(url, login=login)
    assert callback["state"] == pending.state
    return pending, callback["code"]


@integration
@pytest.mark.parametrize("claims_in_id_token", [False, True], ids=["userinfo", "id_token"])
@pytest.mark.parametrize("login", ["alice", "bob"])
async def test_sign_in_yields_the_identity(
    request: pytest.FixtureRequest, http: httpx.AsyncClient, login: str, claims_in_id_token: bool
) -> None:
    provider: OidcTestProvider = request.getfixturevalue(
        "provider_with_id_token_claims" if claims_in_id_token else "provider"
    )
    client = oauth_client(provider, http)
    url, pending = await client.begin("test", REDIRECT_URI)

    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{provider.issuer}/auth?")
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [provider.client_id]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["scope"] == ["openid email profile"]
    assert query["state"] == [pending.state]
    assert query["nonce"] == [pending.nonce]
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] == [create_s256_code_challenge(pending.code_verifier)]
    assert "code_verifier" not in query
    assert len({pending.state, pending.nonce, pending.code_verifier}) == 3

    callback = await sign_in(url, login=login)
    assert callback["state"] == pending.state
    assert callback["iss"] == provider.issuer
    stored = PendingAuthorization.from_json(pending.to_json())  # as kept in Redis
    assert stored == pending

    identity = await client.complete(stored, code=callback["code"], state=callback["state"])

    account = ACCOUNTS[login]
    assert identity == ExternalIdentity(
        provider="test",
        subject=login,
        email=account["email"],
        email_verified=account["email_verified"],
        name=account["name"],
    )


@integration
async def test_wrong_state_is_refused_before_the_code_is_spent(
    provider: OidcTestProvider, http: httpx.AsyncClient
) -> None:
    client = oauth_client(provider, http)
    pending, code = await authorize(client, login="alice")
    for state in ("", "x" * len(pending.state), pending.state[:-1], "é" + pending.state[1:]):
        with pytest.raises(OAuthError) as caught:
            await client.complete(pending, code=code, state=state)
        assert caught.value.reason == "state_mismatch"
    # The code was never sent: it still works with the right state.
    identity = await client.complete(pending, code=code, state=pending.state)
    assert identity.subject == "alice"


@integration
async def test_a_foreign_or_spent_code_is_refused(
    provider: OidcTestProvider, http: httpx.AsyncClient
) -> None:
    client = oauth_client(provider, http)
    pending, code = await authorize(client, login="alice")
    _, other_code = await authorize(client, login="alice")  # issued for another authorization
    for bad in ("not-a-code", code[:-2] + "xx", other_code):
        with pytest.raises(OAuthError) as caught:
            await client.complete(pending, code=bad, state=pending.state)
        assert caught.value.reason == "token_exchange_failed"

    pending, code = await authorize(client, login="alice")
    await client.complete(pending, code=code, state=pending.state)
    with pytest.raises(OAuthError) as caught:  # codes are single-use
        await client.complete(pending, code=code, state=pending.state)
    assert caught.value.reason == "token_exchange_failed"


@integration
async def test_the_pkce_verifier_is_checked_by_the_provider(
    provider: OidcTestProvider, http: httpx.AsyncClient
) -> None:
    client = oauth_client(provider, http)
    pending, code = await authorize(client, login="alice")
    wrong = replace(pending, code_verifier="W" * len(pending.code_verifier))
    with pytest.raises(OAuthError) as caught:
        await client.complete(wrong, code=code, state=pending.state)
    assert caught.value.reason == "token_exchange_failed"
    assert "invalid_grant" in caught.value.detail


@integration
async def test_an_id_token_with_another_nonce_is_refused(
    provider: OidcTestProvider, http: httpx.AsyncClient
) -> None:
    client = oauth_client(provider, http)
    pending, code = await authorize(client, login="alice")
    replayed = replace(pending, nonce="N" * 43)  # the token carries the nonce we really sent
    with pytest.raises(OAuthError) as caught:
        await client.complete(replayed, code=code, state=pending.state)
    assert caught.value.reason == "invalid_id_token"
    assert "nonce" in caught.value.detail


@integration
async def test_a_wrong_client_secret_fails_the_exchange(
    provider: OidcTestProvider, http: httpx.AsyncClient
) -> None:
    url, pending = await oauth_client(provider, http).begin("test", REDIRECT_URI)
    callback = await sign_in(url, login="alice")
    client = oauth_client(provider, http, client_secret="wrong")
    with pytest.raises(OAuthError) as caught:
        await client.complete(pending, code=callback["code"], state=pending.state)
    assert caught.value.reason == "token_exchange_failed"
    assert "invalid_client" in caught.value.detail


@integration
async def test_discovery_must_name_the_configured_issuer(
    provider: OidcTestProvider, http: httpx.AsyncClient
) -> None:
    client = oauth_client(provider, http, issuer=provider.issuer + "/")
    with pytest.raises(OAuthError) as caught:
        await client.begin("test", REDIRECT_URI)
    assert caught.value.reason == "discovery_failed"


@integration
async def test_discovery_and_keys_are_fetched_once_and_refetched_on_a_new_kid(
    provider: OidcTestProvider,
) -> None:
    fetched: list[str] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "GET":
            fetched.append(request.url.path)

    async with httpx.AsyncClient(timeout=10, event_hooks={"request": [record]}) as http:
        with OidcTestProvider(
            client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI, accounts=ACCOUNTS
        ) as first:
            client = oauth_client(first, http)
            for _ in range(2):
                pending, code = await authorize(client, login="alice")
                await client.complete(pending, code=code, state=pending.state)
            assert fetched.count("/.well-known/openid-configuration") == 1
            assert fetched.count("/jwks") == 1
            port = urlsplit(first.issuer).port
        assert port is not None
        # Same issuer, new signing key (a new `kid`): the cached JWKS no longer fits.
        with OidcTestProvider(
            client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI, accounts=ACCOUNTS, port=port
        ):
            pending, code = await authorize(client, login="bob")
            identity = await client.complete(pending, code=code, state=pending.state)
            assert identity.subject == "bob"
            assert fetched.count("/.well-known/openid-configuration") == 1
            assert fetched.count("/jwks") == 2


async def test_an_unknown_provider_is_refused(http: httpx.AsyncClient) -> None:
    client = OAuthClient({}, http)
    with pytest.raises(OAuthError) as caught:
        await client.begin("nope", REDIRECT_URI)
    assert caught.value.reason == "provider_unknown"
    pending = PendingAuthorization("nope", "s", "v" * 43, "n", REDIRECT_URI)
    with pytest.raises(OAuthError) as caught:
        await client.complete(pending, code="c", state="s")
    assert caught.value.reason == "provider_unknown"


def test_pending_authorization_json_is_checked() -> None:
    pending = PendingAuthorization("github", "s", "v", None, REDIRECT_URI)
    assert PendingAuthorization.from_json(pending.to_json().decode()) == pending
    for bad in (b"[]", b'{"provider": "github"}', b'{"provider": 1, "state": "s"}'):
        with pytest.raises(ValueError, match="pending authorization"):
            PendingAuthorization.from_json(bad)


# -- GitHub: plain OAuth 2.0, identity from its REST API ----------------------------------------

GITHUB_TOKEN = "gho_16C7e42F292c6912E7710c838347Ae178B4a"


class FakeGitHub:
    """github.com's token endpoint and api.github.com's /user and /user/emails, answering with
    the JSON shapes GitHub documents, and checking what GitHub checks (secret, code, PKCE)."""

    def __init__(self, *, primary_verified: bool = True, name: str | None = "The Octocat") -> None:
        self.primary_verified = primary_verified
        self.name = name
        self.challenges: dict[str, str] = {}  # code -> code_challenge
        self.token_valid = True

    def authorize(self, url: str) -> dict[str, str]:
        """The user approves: GitHub redirects back with a code and the state."""
        assert url.startswith("https://github.com/login/oauth/authorize?")
        query = dict(parse_qsl(urlsplit(url).query))
        assert query["client_id"] == "gh-client"
        assert query["code_challenge_method"] == "S256"
        code = f"code{len(self.challenges)}"
        self.challenges[code] = query["code_challenge"]
        return {"code": code, "state": query["state"]}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url).split("?")[0]
        if request.method == "POST" and url == "https://github.com/login/oauth/access_token":
            return self._token(request)
        if request.method == "GET" and url.startswith("https://api.github.com/user"):
            if request.headers.get("authorization") != f"Bearer {GITHUB_TOKEN}" or not (
                self.token_valid
            ):
                return httpx.Response(
                    401,
                    json={
                        "message": "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest",
                        "status": "401",
                    },
                )
            assert request.headers["accept"] == "application/vnd.github+json"
            if url == "https://api.github.com/user":
                return httpx.Response(200, json=self._user())
            if url == "https://api.github.com/user/emails":
                return httpx.Response(200, json=self._emails())
        return httpx.Response(404, json={"message": "Not Found"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        assert request.headers["accept"] == "application/json"
        challenge = self.challenges.pop(form.get("code", ""), None)
        if (form.get("client_id"), form.get("client_secret")) != ("gh-client", "gh-secret"):
            return httpx.Response(200, json={"error": "incorrect_client_credentials"})
        if (
            challenge is None
            or form.get("redirect_uri") != REDIRECT_URI
            or create_s256_code_challenge(form.get("code_verifier", "")) != challenge
        ):
            return httpx.Response(
                200,
                json={
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code",
                },
            )
        return httpx.Response(
            200,
            json={
                "access_token": GITHUB_TOKEN,
                "scope": "read:user,user:email",
                "token_type": "bearer",
            },
        )

    def _user(self) -> dict[str, Any]:
        return {
            "login": "octocat",
            "id": 583231,
            "node_id": "MDQ6VXNlcjU4MzIzMQ==",
            "type": "User",
            "name": self.name,
            "email": None,  # the public e-mail; often null, hence /user/emails
        }

    def _emails(self) -> list[dict[str, Any]]:
        return [
            {"email": "old@example.com", "verified": True, "primary": False, "visibility": None},
            {
                "email": "octocat@github.com",
                "verified": self.primary_verified,
                "primary": True,
                "visibility": "public",
            },
        ]


@pytest.fixture
def github() -> FakeGitHub:
    return FakeGitHub()


@pytest.fixture
async def github_client(github: FakeGitHub) -> AsyncIterator[OAuthClient]:
    providers = providers_from_settings(
        github_client_id="gh-client", github_client_secret="gh-secret"
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(github)) as http:
        yield OAuthClient(providers, http)


@pytest.mark.parametrize("verified", [True, False])
@pytest.mark.parametrize("name", ["The Octocat", None])
async def test_github_sign_in(
    github: FakeGitHub, github_client: OAuthClient, verified: bool, name: str | None
) -> None:
    github.primary_verified, github.name = verified, name
    url, pending = await github_client.begin("github", REDIRECT_URI)
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == ["read:user user:email"]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["state"] == [pending.state]
    assert "nonce" not in query
    assert pending.nonce is None
    callback = github.authorize(url)

    identity = await github_client.complete(pending, **callback)

    assert identity == ExternalIdentity(
        provider="github",
        subject="583231",
        email="octocat@github.com",
        email_verified=verified,
        name=name or "octocat",
    )


async def test_github_refusals(github: FakeGitHub, github_client: OAuthClient) -> None:
    url, pending = await github_client.begin("github", REDIRECT_URI)
    callback = github.authorize(url)
    with pytest.raises(OAuthError) as caught:
        await github_client.complete(pending, code=callback["code"], state="forged")
    assert caught.value.reason == "state_mismatch"
    with pytest.raises(OAuthError) as caught:  # the fake checks PKCE as GitHub does
        await github_client.complete(
            replace(pending, code_verifier="x" * 64), code=callback["code"], state=pending.state
        )
    assert caught.value.reason == "token_exchange_failed"
    assert "bad_verification_code" in caught.value.detail

    url, pending = await github_client.begin("github", REDIRECT_URI)
    callback = github.authorize(url)
    github.token_valid = False
    with pytest.raises(OAuthError) as caught:
        await github_client.complete(pending, **callback)
    assert caught.value.reason == "userinfo_failed"


# -- configuration -------------------------------------------------------------------------------


def test_providers_from_settings_builds_the_presets() -> None:
    providers = providers_from_settings(
        google_client_id="g-id",
        google_client_secret="g-secret",
        github_client_id="gh-id",
        github_client_secret="gh-secret",
        oidc_name="corp",
        oidc_issuer="https://login.example.com/realms/corp",
        oidc_client_id="o-id",
        oidc_client_secret="o-secret",
    )
    assert providers == {
        "google": OAuthProvider(
            name="google",
            kind="oidc",
            client_id="g-id",
            client_secret="g-secret",
            scopes=("openid", "email", "profile"),
            issuer="https://accounts.google.com",
        ),
        "github": OAuthProvider(
            name="github",
            kind="github",
            client_id="gh-id",
            client_secret="gh-secret",
            scopes=("read:user", "user:email"),
            authorize_url="https://github.com/login/oauth/authorize",
            token_url="https://github.com/login/oauth/access_token",
            userinfo_url="https://api.github.com/user",
        ),
        "corp": OAuthProvider(
            name="corp",
            kind="oidc",
            client_id="o-id",
            client_secret="o-secret",
            scopes=("openid", "email", "profile"),
            issuer="https://login.example.com/realms/corp",
        ),
    }


def test_providers_from_settings_needs_id_and_secret() -> None:
    assert providers_from_settings() == {}
    assert providers_from_settings(google_client_id="g-id", github_client_secret="s") == {}
    assert providers_from_settings(oidc_client_id="o-id", oidc_client_secret="o-secret") == {}
    only_oidc = providers_from_settings(
        oidc_issuer="https://id.example.com", oidc_client_id="o", oidc_client_secret="s"
    )
    assert list(only_oidc) == ["oidc"]
    with pytest.raises(ValueError, match="taken"):
        providers_from_settings(
            github_client_id="a",
            github_client_secret="b",
            oidc_name="github",
            oidc_issuer="https://id.example.com",
            oidc_client_id="o",
            oidc_client_secret="s",
        )
