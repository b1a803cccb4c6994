"""The TOTP second factor over GraphQL: same service as REST /auth/mfa."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.viewer import require_viewer
from fowergram.graphql.auth import auth_payload, http_request
from fowergram.graphql.context import Context
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.auth_payload import AuthPayload
from fowergram.graphql.types.totp_setup import TotpSetupType
from fowergram.http.auth_transport import client_info


@strawberry.type
class MfaMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def enroll_totp(self, info: Info[Context, None]) -> TotpSetupType:
        viewer = require_viewer(info.context.viewer)
        return TotpSetupType.from_domain(await info.context.services.mfa.enroll(viewer))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Turn TOTP on with a first code; returns the one-time recovery codes.",
    )
    async def confirm_totp(self, info: Info[Context, None], code: str) -> list[str]:
        viewer = require_viewer(info.context.viewer)
        return await info.context.services.mfa.confirm(viewer, code)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Turn TOTP off; needs a current code or an unused recovery code.",
    )
    async def disable_totp(
        self,
        info: Info[Context, None],
        code: str | None = None,
        recovery_code: str | None = None,
    ) -> bool:
        viewer = require_viewer(info.context.viewer)
        await info.context.services.mfa.disable(viewer, code=code, recovery_code=recovery_code)
        return True

    @strawberry.mutation(
        description="Finish a sign-in that answered MFA_REQUIRED (quote its mfaToken)."
    )
    async def sign_in_second_factor(
        self,
        info: Info[Context, None],
        mfa_token: str,
        code: str | None = None,
        recovery_code: str | None = None,
    ) -> AuthPayload:
        account, tokens = await info.context.services.auth.complete_sign_in(
            mfa_token=mfa_token,
            code=code,
            recovery_code=recovery_code,
            client=client_info(http_request(info)),
        )
        return auth_payload(info, account, tokens)
