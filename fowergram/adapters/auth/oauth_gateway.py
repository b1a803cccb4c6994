"""The domain's OAuthGateway over OAuthClient: plain data in and out, errors translated."""

from __future__ import annotations

import logging

from fowergram.adapters.auth.oauth import OAuthClient, OAuthError, PendingAuthorization
from fowergram.domain.auth.social import IdentityClaims, ProviderLoginFailed

log = logging.getLogger(__name__)


class OAuthClientGateway:
    def __init__(self, client: OAuthClient) -> None:
        self._client = client

    def provider_names(self) -> list[str]:
        return sorted(self._client.providers)

    async def begin(self, provider: str, redirect_uri: str) -> tuple[str, str, bytes]:
        try:
            url, pending = await self._client.begin(provider, redirect_uri)
        except OAuthError as error:
            log.warning(
                "oauth begin failed", extra={"reason": error.reason, "detail": error.detail}
            )
            raise ProviderLoginFailed(error.reason) from None
        return url, pending.state, pending.to_json()

    async def complete(self, pending: bytes, *, code: str, state: str) -> IdentityClaims:
        try:
            identity = await self._client.complete(
                PendingAuthorization.from_json(pending), code=code, state=state
            )
        except OAuthError as error:
            log.warning(
                "oauth sign-in failed", extra={"reason": error.reason, "detail": error.detail}
            )
            raise ProviderLoginFailed(error.reason) from None
        return IdentityClaims(
            provider=identity.provider,
            subject=identity.subject,
            email=identity.email,
            email_verified=identity.email_verified,
            name=identity.name,
        )
