"""The sign-in providers: their settings, and the Google / GitHub / any-OIDC presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_ACCESS_TOKEN_URL = "https://github.com/login/oauth/access_token"  # noqa: S105
GITHUB_USER_URL = "https://api.github.com/user"  # the e-mails are at <this>/emails
OIDC_SCOPES = ("openid", "email", "profile")
GITHUB_SCOPES = ("read:user", "user:email")


@dataclass(frozen=True, slots=True)
class OAuthProvider:
    name: str
    kind: Literal["oidc", "github"]
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    issuer: str | None = None  # OIDC: endpoints come from its discovery document unless given
    authorize_url: str | None = None
    token_url: str | None = None
    userinfo_url: str | None = None


def providers_from_settings(
    *,
    google_client_id: str | None = None,
    google_client_secret: str | None = None,
    github_client_id: str | None = None,
    github_client_secret: str | None = None,
    oidc_name: str | None = None,
    oidc_issuer: str | None = None,
    oidc_client_id: str | None = None,
    oidc_client_secret: str | None = None,
) -> dict[str, OAuthProvider]:
    """The providers whose client id and secret (and, for generic OIDC, issuer) are set."""
    providers: dict[str, OAuthProvider] = {}
    if google_client_id and google_client_secret:
        providers["google"] = OAuthProvider(
            name="google",
            kind="oidc",
            client_id=google_client_id,
            client_secret=google_client_secret,
            scopes=OIDC_SCOPES,
            issuer=GOOGLE_ISSUER,
        )
    if github_client_id and github_client_secret:
        providers["github"] = OAuthProvider(
            name="github",
            kind="github",
            client_id=github_client_id,
            client_secret=github_client_secret,
            scopes=GITHUB_SCOPES,
            authorize_url=GITHUB_AUTHORIZE_URL,
            token_url=GITHUB_ACCESS_TOKEN_URL,
            userinfo_url=GITHUB_USER_URL,
        )
    if oidc_issuer and oidc_client_id and oidc_client_secret:
        name = oidc_name or "oidc"
        if name in providers:
            raise ValueError(f"OIDC_NAME {name!r} is taken by a preset provider")
        providers[name] = OAuthProvider(
            name=name,
            kind="oidc",
            client_id=oidc_client_id,
            client_secret=oidc_client_secret,
            scopes=OIDC_SCOPES,
            issuer=oidc_issuer,
        )
    return providers
