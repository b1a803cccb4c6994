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


@strawberry.type(
    description="Send the browser to authorizationUrl; keep flowSecret for the callback."
)
class OAuthStart:
    authorization_url: str
    flow_secret: str


@strawberry.type
class SocialQuery:
    @strawberry.field(description="Providers configured for social sign-in.")
    def oauth_providers(self, info: Info[Context, None]) -> list[str]:
        social = info.context.services.social
        return social.providers() if social else []


@strawberry.type
class SocialMutation:
    @strawberry.mutation(description="Where to send the browser, and the flow's secret.")
    async def oauth_start(
        self, info: Info[Context, None], provider: str, redirect_uri: str
    ) -> OAuthStart:
        client = client_info(http_request(info))
        started = await _social(info).begin(provider, redirect_uri, client)
        return OAuthStart(
            authorization_url=started.authorization_url, flow_secret=started.flow_secret
        )

    @strawberry.mutation(
        description="Finish with the code and state the provider returned and the flow secret."
    )
    async def oauth_callback(
        self,
        info: Info[Context, None],
        provider: str,
        code: str,
        state: str,
        flow_secret: str,
    ) -> AuthPayload:
        client = client_info(http_request(info))
        account, tokens = await _social(info).complete(
            provider, code=code, state=state, flow_secret=flow_secret, client=client
        )
        return auth_payload(info, account, tokens)
