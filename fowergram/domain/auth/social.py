"""Sign-in with an external provider (OAuth2 / OpenID Connect).

The pending request (state, PKCE verifier, nonce) waits server-side, keyed by state, and
is bound to the browser or app that started it by a flow secret (login CSRF: an attacker's
code and state are useless without it). Redirect URIs must be on an allowlist. Accounts
are only created from, and only linked through, email addresses that are verified: by the
provider, and (to link) by us too, so a squatter's unverified sign-up cannot capture the
real owner's later social sign-in.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Protocol

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.ports import Accounts, Rate, RateLimiter, Secrets
from fowergram.domain.auth.recovery import EmailVerification
from fowergram.domain.auth.service import AuthService
from fowergram.domain.auth.sessions import ClientInfo, Tokens
from fowergram.domain.auth.token_hash import hash_token
from fowergram.domain.errors import BadUserInput, Conflict, NotFound, Unauthenticated

PENDING_TTL_S = 10 * 60
_USERNAME_ATTEMPTS = 5
STARTS_PER_IP = Rate(limit=30, window_s=60)
_BINDING = b"|flow:"


@dataclass(frozen=True, slots=True)
class Started:
    authorization_url: str
    flow_secret: str  # the caller keeps it (app) or gets it as a cookie (browser)


@dataclass(frozen=True, slots=True)
class IdentityClaims:
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


class ProviderLoginFailed(Exception):
    """The provider refused, or its answer did not check out; `reason` is stable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OAuthGateway(Protocol):
    def provider_names(self) -> list[str]: ...

    async def begin(self, provider: str, redirect_uri: str) -> tuple[str, str, bytes]:
        """(authorization URL, state, the pending request to keep until the callback)."""
        ...

    async def complete(self, pending: bytes, *, code: str, state: str) -> IdentityClaims:
        """Raise ProviderLoginFailed when the callback does not check out."""
        ...


class PendingLogins(Protocol):
    async def put(self, state: str, pending: bytes, ttl_s: int) -> None: ...

    async def take(self, state: str) -> bytes | None:
        """Return and forget: a state is good for one callback."""
        ...


class Identities(Protocol):
    async def user_for(self, provider: str, subject: str) -> int | None: ...
    async def link(
        self, *, provider: str, subject: str, user_id: int, email: str | None
    ) -> None: ...


def username_base(claims: IdentityClaims) -> str:
    """A username proposal from the email's local part or the name: [a-z0-9._], ≤ 24."""
    source = (claims.email or "").partition("@")[0] or (claims.name or "") or "user"
    base = re.sub(r"[^a-z0-9._]+", "", source.lower()).strip(".")
    base = re.sub(r"\.{2,}", ".", base)[:24].rstrip(".")
    return base or "user"


class SocialSignIn:
    def __init__(
        self,
        *,
        gateway: OAuthGateway,
        pending: PendingLogins,
        identities: Identities,
        accounts: Accounts,
        verification: EmailVerification,
        auth: AuthService,
        redirect_uris: frozenset[str],
        limiter: RateLimiter,
        secrets_source: Secrets,
    ) -> None:
        self._gateway = gateway
        self._pending = pending
        self._identities = identities
        self._accounts = accounts
        self._verification = verification
        self._auth = auth
        self._redirect_uris = redirect_uris
        self._limiter = limiter
        self._secrets = secrets_source

    def providers(self) -> list[str]:
        return self._gateway.provider_names()

    async def begin(self, provider: str, redirect_uri: str, client: ClientInfo) -> Started:
        if provider not in self._gateway.provider_names():
            raise NotFound(f"no sign-in provider named {provider!r}")
        if redirect_uri not in self._redirect_uris:
            raise BadUserInput("this redirect URI is not allowed", field="redirectUri")
        if client.ip:
            await self._limiter.hit(f"oauth:start:{client.ip}", STARTS_PER_IP)
        url, state, pending = await self._gateway.begin(provider, redirect_uri)
        flow_secret = self._secrets.token()
        stored = pending + _BINDING + hash_token(flow_secret).hex().encode()
        await self._pending.put(state, stored, PENDING_TTL_S)
        return Started(url, flow_secret)

    async def complete(
        self, provider: str, *, code: str, state: str, flow_secret: str | None, client: ClientInfo
    ) -> tuple[Account, Tokens]:
        stored = await self._pending.take(state)
        if stored is None:
            raise Unauthenticated("this sign-in expired or was already used; start again")
        pending, _, binding = stored.rpartition(_BINDING)
        expected = hash_token(flow_secret or "").hex().encode()
        if not flow_secret or not hmac.compare_digest(binding, expected):
            raise Unauthenticated("this sign-in was started elsewhere; start again")
        try:
            claims = await self._gateway.complete(pending, code=code, state=state)
        except ProviderLoginFailed as failure:
            raise Unauthenticated(f"the provider sign-in failed ({failure.reason})") from None
        if claims.provider != provider:
            raise Unauthenticated("the callback does not belong to this provider")
        account = await self._account_for(claims)
        return account, await self._auth.sign_in_verified(account, client)

    async def _account_for(self, claims: IdentityClaims) -> Account:
        user_id = await self._identities.user_for(claims.provider, claims.subject)
        if user_id is not None:
            account = await self._accounts.get_by_id(user_id)
            if account is None or account.deleted_at is not None:
                raise Unauthenticated("account no longer exists")
            return account
        if not claims.email:
            raise BadUserInput("the provider shared no email address", field="email")
        if not claims.email_verified:
            # Anyone can type any address at some providers: neither create nor link on it.
            raise Conflict(
                "the provider has not verified this email address; verify it there first",
                field="email",
            )
        existing = await self._accounts.get_by_email(claims.email)
        if existing is not None:
            if not existing.email_verified:
                # Whoever signed up with this address never proved it was theirs.
                raise Conflict(
                    "an account with this email exists but its address is unverified; "
                    "sign in to it and verify the address first",
                    field="email",
                )
            account = existing
        else:
            account = await self._new_account(claims)
        await self._identities.link(
            provider=claims.provider, subject=claims.subject, user_id=account.id, email=claims.email
        )
        if claims.email_verified and not account.email_verified:
            await self._verification.mark_email_verified(account.id, account.email)
            return await self._accounts.get_by_id(account.id) or account
        return account

    async def _new_account(self, claims: IdentityClaims) -> Account:
        assert claims.email is not None
        base = username_base(claims)
        for attempt in range(_USERNAME_ATTEMPTS):
            username = base if attempt == 0 else f"{base}_{secrets.randbelow(10_000):04d}"
            try:
                return await self._accounts.insert(
                    username=username, email=claims.email.lower(), password_hash=None
                )
            except Conflict as taken:
                if taken.field != "username":
                    raise
        raise Conflict("could not find a free username; sign up instead", field="username")
