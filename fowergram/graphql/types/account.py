from __future__ import annotations

import strawberry

from fowergram.domain.auth.accounts import Account


@strawberry.type(name="Account", description="The signed-in user's own account.")
class AccountType:
    id: strawberry.ID
    username: str
    email: str
    email_verified: bool
    role: str

    @classmethod
    def from_domain(cls, account: Account) -> AccountType:
        return cls(
            id=strawberry.ID(str(account.id)),
            username=account.username,
            email=account.email,
            email_verified=account.email_verified,
            role=account.role.value,
        )
