"""Social sign-in, client side: the OAuth 2.0 authorization-code flow with PKCE (S256).

`OAuthClient.begin` makes the authorization URL and a `PendingAuthorization` (state, PKCE
verifier, nonce) for the caller to keep, e.g. in Redis, until the provider redirects back;
`OAuthClient.complete` checks `state`, exchanges the code with the verifier and says who signed
in: from a validated ID token (and userinfo when the token carries no email) for OpenID Connect
providers, from the REST API for GitHub. authlib builds the requests, PyJWT checks signatures.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Literal

import httpx
import orjson
from authlib.common.security import generate_token  # type: ignore[import-untyped, unused-ignore]
from authlib.oauth2.auth import ClientAuth  # type: ignore[import-untyped, unused-ignore]
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped, unused-ignore]
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import (  # type: ignore[import-untyped, unused-ignore]
    create_s256_code_challenge,
)

from fowergram.adapters.auth.oauth_providers import (
    GITHUB_ACCESS_TOKEN_URL,
    GITHUB_AUTHORIZE_URL,
    GITHUB_USER_URL,
    OAuthProvider,
    providers_from_settings,
)
from fowergram.adapters.auth.oidc_tokens import (
    ASYMMETRIC_ALGORITHMS,
    IdTokenError,
    UnknownSigningKey,
    validate_id_token,
)
from fowergram.adapters.clock import SystemClock
from fowergram.domain.clock import Clock

__all__ = [
    "ExternalIdentity",
    "OAuthClient",
    "OAuthError",
    "OAuthErrorReason",
    "OAuthProvider",
    "PendingAuthorization",
    "providers_from_settings",
]

_GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

OAuthErrorReason = Literal[
    "provider_unknown",  # no provider configured under that name
    "state_mismatch",  # the callback's state is not the one we sent
    "discovery_failed",  # discovery document or JWKS unreachable or invalid
    "token_exchange_failed",  # the token endpoint refused the code (bad, used, wrong verifier)
    "invalid_id_token",  # signature, iss, aud, azp, exp, iat or nonce check failed
    "userinfo_failed",  # userinfo or GitHub's /user, /user/emails failed
]


class OAuthError(Exception):
    """A failed sign-in; `reason` is stable and short, `detail` is for the logs only."""

    def __init__(self, reason: OAuthErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: OAuthErrorReason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """What `complete` needs back from `begin`: keep it server-side, keyed by `state`."""

    provider: str
    state: str
    code_verifier: str
    nonce: str | None
    redirect_uri: str

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes | str) -> PendingAuthorization:
        value = orjson.loads(data)
        if not isinstance(value, dict):
            raise ValueError("a pending authorization is a JSON object")
        fields = ("provider", "state", "code_verifier", "redirect_uri")
        if any(not isinstance(value.get(name), str) for name in fields) or not isinstance(
            value.get("nonce"), str | None
        ):
            raise ValueError("a pending authorization needs its string fields")
        return cls(
            provider=value["provider"],
            state=value["state"],
            code_verifier=value["code_verifier"],
            nonce=value.get("nonce"),
            redirect_uri=value["redirect_uri"],
        )


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    provider: str
    subject: str  # stable id at the provider: OIDC `sub`, GitHub's numeric user id
    email: str | None
    email_verified: bool
    name: str | None


@dataclass(frozen=True, slots=True)
class _Endpoints:
    authorize: str
    token: str
    userinfo: str | None
    jwks_uri: str | None = None
    client_auth_method: str = "client_secret_basic"
    id_token_algorithms: frozenset[str] = ASYMMETRIC_ALGORITHMS


class OAuthClient:
    """Runs the flow for the configured providers; caches discovery documents and JWKS."""

    def __init__(
        self,
        providers: Mapping[str, OAuthProvider],
        http: httpx.AsyncClient,
        *,
        clock: Clock | None = None,
        leeway_s: float = 60.0,
    ) -> None:
        self._providers = MappingProxyType(dict(providers))
        self._http = http
        self._clock = clock or SystemClock()
        self._leeway_s = leeway_s
        self._endpoints_cache: dict[str, _Endpoints] = {}
        self._jwks_cache: dict[str, Mapping[str, Any]] = {}

    @property
    def providers(self) -> Mapping[str, OAuthProvider]:
        return self._providers

    async def begin(self, provider: str, redirect_uri: str) -> tuple[str, PendingAuthorization]:
        """The URL to send the browser to, and what to keep until it comes back."""
        config = self._provider(provider)
        endpoints = await self._endpoints(config)
        pending = PendingAuthorization(
            provider=config.name,
            state=_token(43),
            code_verifier=_token(64),  # RFC 7636: 43 to 128 unreserved characters
            nonce=_token(43) if config.kind == "oidc" else None,
            redirect_uri=redirect_uri,
        )
        url = prepare_grant_uri(
            endpoints.authorize,
            config.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(config.scopes),
            state=pending.state,
            code_challenge=str(create_s256_code_challenge(pending.code_verifier)),
            code_challenge_method="S256",
            nonce=pending.nonce,
        )
        return str(url), pending

    async def complete(
        self, pending: PendingAuthorization, *, code: str, state: str
    ) -> ExternalIdentity:
        """Check the callback's `state`, redeem its `code` and return who signed in."""
        config = self._provider(pending.provider)
        if not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise OAuthError("state_mismatch")
        endpoints = await self._endpoints(config)
        token = await self._exchange(config, endpoints, pending, code)
        if config.kind == "github":
            return await self._github_identity(config, endpoints, token["access_token"])
        return await self._oidc_identity(config, endpoints, pending, token)

    def _provider(self, name: str) -> OAuthProvider:
        try:
            return self._providers[name]
        except KeyError:
            raise OAuthError("provider_unknown", name) from None

    async def _endpoints(self, config: OAuthProvider) -> _Endpoints:
        if (cached := self._endpoints_cache.get(config.name)) is not None:
            return cached
        if config.kind == "github":
            endpoints = _Endpoints(
                authorize=config.authorize_url or GITHUB_AUTHORIZE_URL,
                token=config.token_url or GITHUB_ACCESS_TOKEN_URL,
                userinfo=config.userinfo_url or GITHUB_USER_URL,
                client_auth_method="client_secret_post",
            )
        else:
            endpoints = await self._discover(config)
        self._endpoints_cache[config.name] = endpoints
        return endpoints

    async def _discover(self, config: OAuthProvider) -> _Endpoints:
        if not config.issuer:
            raise OAuthError("discovery_failed", f"{config.name}: an OIDC provider needs an issuer")
        url = config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = await self._get_json(url, {}, "discovery_failed")
        if not isinstance(doc, dict) or doc.get("issuer") != config.issuer:
            raise OAuthError("discovery_failed", f"{url} does not describe {config.issuer}")
        required = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if any(not isinstance(doc.get(name), str) for name in required):
            raise OAuthError("discovery_failed", f"{url} lacks one of {', '.join(required)}")
        methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        algorithms = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        userinfo = config.userinfo_url or doc.get("userinfo_endpoint")
        return _Endpoints(
            authorize=config.authorize_url or doc["authorization_endpoint"],
            token=config.token_url or doc["token_endpoint"],
            userinfo=userinfo if isinstance(userinfo, str) else None,
            jwks_uri=doc["jwks_uri"],
            client_auth_method=(
                "client_secret_post"
                if "client_secret_basic" not in methods and "client_secret_post" in methods
                else "client_secret_basic"
            ),
            id_token_algorithms=ASYMMETRIC_ALGORITHMS.intersection(algorithms),
        )

    async def _exchange(
        self, config: OAuthProvider, endpoints: _Endpoints, pending: PendingAuthorization, code: str
    ) -> dict[str, Any]:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
        )
        headers = {
            "Accept": "application/json",  # GitHub answers form-encoded otherwise
            "Content-Type": "application/x-www-form-urlencoded",
        }
        auth = ClientAuth(config.client_id, config.client_secret, endpoints.client_auth_method)
        url, headers, body = auth.prepare("POST", endpoints.token, headers, body)
        try:
            response = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise OAuthError("token_exchange_failed", f"{url}: {exc!r}") from exc
        payload = _json_object(response)
        # GitHub reports a bad code with 200 and {"error": ...}.
        if response.status_code != httpx.codes.OK or payload is None or "error" in payload:
            error = payload.get("error") if payload else None
            raise OAuthError("token_exchange_failed", f"HTTP {response.status_code}: {error}")
        if not isinstance(payload.get("access_token"), str):
            raise OAuthError("token_exchange_failed", "no access_token in the response")
        return payload

    async def _oidc_identity(
        self,
        config: OAuthProvider,
        endpoints: _Endpoints,
        pending: PendingAuthorization,
        token: Mapping[str, Any],
    ) -> ExternalIdentity:
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OAuthError("invalid_id_token", "no id_token in the token response")
        if pending.nonce is None:
            raise OAuthError("invalid_id_token", "no nonce was sent, so none can be checked")
        claims = await self._validated_claims(config, endpoints, id_token, pending.nonce)
        source: Mapping[str, Any] = claims
        if "email" not in claims and endpoints.userinfo:
            # Many providers put scope claims in userinfo only (OIDC Core 5.4).
            source = await self._get_json(
                endpoints.userinfo,
                {"Authorization": f"Bearer {token['access_token']}"},
                "userinfo_failed",
            )
            if not isinstance(source, dict) or source.get("sub") != claims["sub"]:
                raise OAuthError("userinfo_failed", "userinfo is not about the ID token's sub")
        email = source.get("email")
        name = claims.get("name") or source.get("name")
        return ExternalIdentity(
            provider=config.name,
            subject=claims["sub"],
            email=email if isinstance(email, str) else None,
            email_verified=isinstance(email, str) and _is_true(source.get("email_verified")),
            name=name if isinstance(name, str) else None,
        )

    async def _validated_claims(
        self, config: OAuthProvider, endpoints: _Endpoints, id_token: str, nonce: str
    ) -> dict[str, Any]:
        assert config.issuer is not None and endpoints.jwks_uri is not None  # noqa: PT018
        jwks, fresh = await self._jwks(endpoints.jwks_uri, refresh=False)
        while True:
            try:
                return validate_id_token(
                    id_token,
                    jwks=jwks,
                    issuer=config.issuer,
                    client_id=config.client_id,
                    nonce=nonce,
                    now=self._clock.now().timestamp(),
                    leeway=self._leeway_s,
                    algorithms=endpoints.id_token_algorithms,
                )
            except UnknownSigningKey as exc:
                if fresh:  # the keys were fetched for this very token: no point in refetching
                    raise OAuthError("invalid_id_token", str(exc)) from None
                jwks, fresh = await self._jwks(endpoints.jwks_uri, refresh=True)
            except IdTokenError as exc:
                raise OAuthError("invalid_id_token", str(exc)) from None

    async def _jwks(self, uri: str, *, refresh: bool) -> tuple[Mapping[str, Any], bool]:
        if not refresh and (cached := self._jwks_cache.get(uri)) is not None:
            return cached, False
        jwks = await self._get_json(uri, {}, "discovery_failed")
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise OAuthError("discovery_failed", f"{uri} is not a JWK set")
        self._jwks_cache[uri] = jwks
        return jwks, True

    async def _github_identity(
        self, config: OAuthProvider, endpoints: _Endpoints, access_token: str
    ) -> ExternalIdentity:
        assert endpoints.userinfo is not None
        headers = _GITHUB_HEADERS | {"Authorization": f"Bearer {access_token}"}
        user = await self._get_json(endpoints.userinfo, headers, "userinfo_failed")
        emails = await self._get_json(
            f"{endpoints.userinfo}/emails?per_page=100", headers, "userinfo_failed"
        )
        user_id = user.get("id") if isinstance(user, dict) else None
        if type(user_id) is not int or not isinstance(emails, list):
            raise OAuthError("userinfo_failed", "unexpected answer from GitHub's API")
        primary = next((e for e in emails if isinstance(e, dict) and e.get("primary") is True), {})
        email = primary.get("email")
        name = user.get("name") or user.get("login")
        return ExternalIdentity(
            provider=config.name,
            subject=str(user_id),
            email=email if isinstance(email, str) else None,
            email_verified=isinstance(email, str) and primary.get("verified") is True,
            name=name if isinstance(name, str) else None,
        )

    async def _get_json(
        self, url: str, headers: Mapping[str, str], reason: OAuthErrorReason
    ) -> Any:
        try:
            response = await self._http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise OAuthError(reason, f"{url}: {exc!r}") from exc
        if response.status_code != httpx.codes.OK:
            raise OAuthError(reason, f"{url}: HTTP {response.status_code}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise OAuthError(reason, f"{url}: not JSON") from None


def _token(length: int) -> str:
    return str(generate_token(length))  # letters and digits from SystemRandom


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _is_true(value: object) -> bool:
    # Some providers (e.g. Cognito) send "true" as a string.
    return value is True or (isinstance(value, str) and value.lower() == "true")
