from __future__ import annotations

from datetime import datetime

import strawberry

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.sessions import Tokens
from fowergram.graphql.types.account import AccountType


@strawberry.type(
    name="AuthPayload",
    description="A new or refreshed session. In cookie mode (X-Auth-Mode: cookie) the "
    "tokens travel as httpOnly cookies and are null here.",
)
class AuthPayload:
    account: AccountType
    session_id: strawberry.ID
    access_token: str | None
    access_token_expires_at: datetime
    refresh_token: str | None
    refresh_token_expires_at: datetime
    anti_csrf: str

    @classmethod
    def from_domain(cls, account: Account, tokens: Tokens, *, in_cookies: bool) -> AuthPayload:
        return cls(
            account=AccountType.from_domain(account),
            session_id=strawberry.ID(tokens.session_id),
            access_token=None if in_cookies else tokens.access_token,
            access_token_expires_at=tokens.access_expires_at,
            refresh_token=None if in_cookies else tokens.refresh_token,
            refresh_token_expires_at=tokens.refresh_expires_at,
            anti_csrf=tokens.anti_csrf,
        )
