from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.accounts import Account
from fowergram.domain.errors import NotFound
from fowergram.graphql import loaders
from fowergram.graphql.context import Context
from fowergram.graphql.types.user import UserType


@strawberry.type(name="Account", description="The signed-in user's own account.")
class AccountType:
    id: strawberry.ID
    username: str
    email: str
    email_verified: bool
    role: str

    @strawberry.field(description="Your public profile, as others see it (counts included).")
    async def profile(self, info: Info[Context, None]) -> UserType:
        profile = await loaders.users(info.context).load(int(self.id))
        if profile is None:
            raise NotFound("no such user")
        return UserType.from_domain(profile)

    @classmethod
    def from_domain(cls, account: Account) -> AccountType:
        return cls(
            id=strawberry.ID(str(account.id)),
            username=account.username,
            email=account.email,
            email_verified=account.email_verified,
            role=account.role.value,
        )
