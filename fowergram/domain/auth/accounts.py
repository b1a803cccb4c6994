"""The account as the auth service sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fowergram.domain.auth.viewer import Role

SUSPENDED = "this account is suspended"  # a banned account's answer to a sign-in


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    email: str
    password_hash: str | None
    role: Role
    email_verified_at: datetime | None
    created_at: datetime
    deleted_at: datetime | None = None
    banned_at: datetime | None = None  # suspended: no new session until the ban is lifted

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None
