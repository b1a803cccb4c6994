"""Auth over GraphQL: the same service as REST /auth, thin resolvers."""

from __future__ import annotations

import strawberry
from starlette.requests import Request
from strawberry.types import Info

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.sessions import Tokens
from fowergram.domain.auth.viewer import require_viewer
from fowergram.domain.errors import Unauthenticated
from fowergram.graphql.context import Context
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.account import AccountType
from fowergram.graphql.types.auth_payload import AuthPayload
from fowergram.graphql.types.session import SessionType
from fowergram.http.auth_transport import (
    clear_session_cookies,
    client_info,
    set_session_cookies,
    wants_cookies,
)


def http_request(info: Info[Context, None]) -> Request:
    request = info.context.request
    if not isinstance(request, Request):
        raise Unauthenticated("sign in over HTTP, then authenticate the socket")
    return request


def _secure(request: Request) -> bool:
    return bool(request.state.container.settings.is_production)


def auth_payload(info: Info[Context, None], account: Account, tokens: Tokens) -> AuthPayload:
    request = http_request(info)
    in_cookies = wants_cookies(request)
    if in_cookies and info.context.response is not None:
        set_session_cookies(info.context.response, tokens, secure=_secure(request))
    return AuthPayload.from_domain(account, tokens, in_cookies=in_cookies)


@strawberry.type
class AuthQuery:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def me(self, info: Info[Context, None]) -> AccountType:
        viewer = require_viewer(info.context.viewer)
        return AccountType.from_domain(await info.context.services.auth.account(viewer))

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def my_sessions(self, info: Info[Context, None]) -> list[SessionType]:
        viewer = require_viewer(info.context.viewer)
        sessions = await info.context.services.auth.list_sessions(viewer)
        return [SessionType.from_domain(s, current_id=viewer.session_id) for s in sessions]


@strawberry.type
class AuthMutation:
    @strawberry.mutation
    async def sign_up(
        self, info: Info[Context, None], email: str, username: str, password: str
    ) -> AuthPayload:
        account, tokens = await info.context.services.auth.sign_up(
            email=email,
            username=username,
            password=password,
            client=client_info(http_request(info)),
        )
        return auth_payload(info, account, tokens)

    @strawberry.mutation(description="Sign in with an email address or a username.")
    async def sign_in(
        self, info: Info[Context, None], identifier: str, password: str
    ) -> AuthPayload:
        account, tokens = await info.context.services.auth.sign_in(
            identifier=identifier, password=password, client=client_info(http_request(info))
        )
        return auth_payload(info, account, tokens)

    @strawberry.mutation(
        description="Rotate the refresh token. Cookie sessions refresh at POST "
        "/auth/session/refresh instead: their refresh cookie is only ever sent there."
    )
    async def refresh_session(self, info: Info[Context, None], refresh_token: str) -> AuthPayload:
        account, tokens = await info.context.services.auth.refresh(refresh_token)
        return auth_payload(info, account, tokens)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def sign_out(self, info: Info[Context, None]) -> bool:
        await info.context.services.auth.sign_out(require_viewer(info.context.viewer))
        if info.context.response is not None:
            clear_session_cookies(info.context.response, secure=_secure(http_request(info)))
        return True

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def sign_out_everywhere(self, info: Info[Context, None]) -> int:
        viewer = require_viewer(info.context.viewer)
        revoked = await info.context.services.auth.sign_out_everywhere(viewer)
        if info.context.response is not None:
            clear_session_cookies(info.context.response, secure=_secure(http_request(info)))
        return revoked

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Mail a new verification link; false when already verified.",
    )
    async def request_email_verification(self, info: Info[Context, None]) -> bool:
        viewer = require_viewer(info.context.viewer)
        return await info.context.services.recovery.request_verification(viewer)

    @strawberry.mutation
    async def verify_email(self, info: Info[Context, None], token: str) -> bool:
        await info.context.services.recovery.verify_email(token)
        return True

    @strawberry.mutation(description="Always true: it does not tell whether the address exists.")
    async def request_password_reset(self, info: Info[Context, None], email: str) -> bool:
        client = client_info(http_request(info))
        await info.context.services.recovery.request_password_reset(email, client)
        return True

    @strawberry.mutation(description="Set a new password; every session is signed out.")
    async def reset_password(
        self, info: Info[Context, None], token: str, new_password: str
    ) -> bool:
        await info.context.services.recovery.reset_password(token, new_password)
        return True

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def revoke_session(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        viewer = require_viewer(info.context.viewer)
        await info.context.services.auth.revoke_session(viewer, str(id))
        return True
