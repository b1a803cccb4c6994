"""Social sign-in over GraphQL: same service as REST /auth/oauth."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.social import SocialSignIn
from fowergram.domain.errors import NotFound
from fowergram.graphql.auth import auth_payload, http_request
from fowergram.graphql.context import Context
from fowergram.graphql.types.auth_payload import AuthPayload
from fowergram.http.auth_transport import client_info


def _social(info: Info[Context, None]) -> SocialSignIn:
    social = info.context.services.social
    if social is None:
        raise NotFound("social sign-in is not configured")
    return social


@strawberry.type
class SocialQuery:
    @strawberry.field(description="Providers configured for social sign-in.")
    def oauth_providers(self, info: Info[Context, None]) -> list[str]:
        social = info.context.services.social
        return social.providers() if social else []


@strawberry.type
class SocialMutation:
    @strawberry.mutation(description="The provider URL to send the browser to.")
    async def oauth_start(self, info: Info[Context, None], provider: str, redirect_uri: str) -> str:
        return await _social(info).begin(provider, redirect_uri)

    @strawberry.mutation(description="Finish with the code and state the provider returned.")
    async def oauth_callback(
        self, info: Info[Context, None], provider: str, code: str, state: str
    ) -> AuthPayload:
        client = client_info(http_request(info))
        account, tokens = await _social(info).complete(
            provider, code=code, state=state, client=client
        )
        return auth_payload(info, account, tokens)
