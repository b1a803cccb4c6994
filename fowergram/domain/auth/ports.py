"""What the auth service needs from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.sessions import (
    ClientInfo,
    RefreshTokenRecord,
    RevokeReason,
    Session,
)
from fowergram.domain.auth.viewer import Role


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    session_id: str
    role: Role
    anti_csrf: str
    expires_at: datetime


class AccessTokens(Protocol):
    async def issue(self, claims: AccessClaims) -> str: ...

    async def verify(self, token: str) -> AccessClaims:
        """Raise `Unauthenticated` for any token we did not issue, or that expired."""
        ...


class Accounts(Protocol):
    async def insert(self, *, username: str, email: str, password_hash: str | None) -> Account:
        """Raise `Conflict` (field username or email) when either is taken."""
        ...

    async def get_by_id(self, user_id: int) -> Account | None: ...
    async def get_by_email(self, email: str) -> Account | None: ...
    async def get_by_username(self, username: str) -> Account | None: ...
    async def set_password_hash(self, user_id: int, password_hash: str) -> None: ...


class Sessions(Protocol):
    async def create(
        self,
        *,
        session_id: str,
        user_id: int,
        refresh_hash: bytes,
        expires_at: datetime,
        client: ClientInfo,
    ) -> None: ...

    async def find_refresh(self, refresh_hash: bytes) -> RefreshTokenRecord | None: ...

    async def rotate(
        self, *, old_hash: bytes, new_hash: bytes, session_id: str, expires_at: datetime
    ) -> bool:
        """Replace `old_hash` by `new_hash` if it is still current; False if it lost a race."""
        ...

    async def revoke(
        self, session_ids: Sequence[str], reason: RevokeReason, *, user_id: int
    ) -> list[str]:
        """Revoke those of `session_ids` that belong to `user_id`; return the ones revoked."""
        ...

    async def revoke_all(
        self, user_id: int, reason: RevokeReason, *, except_session: str | None = None
    ) -> list[str]: ...

    async def list_active(self, user_id: int) -> list[Session]: ...


class RevocationList(Protocol):
    """Sessions revoked while their access tokens may still be unexpired."""

    async def add(self, session_ids: Sequence[str]) -> None: ...
    async def contains(self, session_id: str) -> bool: ...
    async def contains_many(self, session_ids: Sequence[str]) -> list[bool]:
        """`contains` for each, in order, in one look-up."""
        ...


class SessionEvents(Protocol):
    async def sessions_revoked(self, user_id: int, session_ids: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    window_s: int


class RateLimiter(Protocol):
    async def hit(self, key: str, rate: Rate) -> None:
        """Count one attempt; raise `RateLimited` (with retry time) past the limit."""
        ...

    async def check(self, key: str, rate: Rate) -> None:
        """Raise `RateLimited` if `key` is already at its limit, without counting."""
        ...


class Secrets(Protocol):
    def token(self) -> str:
        """A fresh unguessable URL-safe token (>= 256 bits)."""
        ...

    def session_id(self) -> str: ...

    def recovery_code(self) -> str:
        """A one-time MFA recovery code for a person to write down."""
        ...


class SignUpListener(Protocol):
    async def signed_up(self, account: Account) -> None: ...


class SecondFactor(Protocol):
    async def is_required(self, user_id: int) -> bool: ...

    async def verify(
        self, user_id: int, *, code: str | None = None, recovery_code: str | None = None
    ) -> bool: ...


class MfaChallenges(Protocol):
    """Sign-ins waiting for their second factor, by hashed challenge token."""

    async def put(self, token_hash: bytes, user_id: int, ttl_s: int) -> None: ...
    async def get(self, token_hash: bytes) -> int | None: ...
    async def delete(self, token_hash: bytes) -> None: ...
