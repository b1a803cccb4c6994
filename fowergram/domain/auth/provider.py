"""The auth provider port: what the HTTP routes and GraphQL resolvers call.

Two implementations: the built-in `AuthService` (the default, everything in
PostgreSQL/Redis) and the SuperTokens adapter (when SUPERTOKENS_CONNECTION_URI is
set). Callers cannot tell them apart: same viewer, same errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.service import Authenticated
from fowergram.domain.auth.sessions import ClientInfo, RevokeReason, Session, Tokens
from fowergram.domain.auth.viewer import Viewer


class AuthProvider(Protocol):
    async def sign_up(
        self, *, email: str, username: str, password: str, client: ClientInfo
    ) -> tuple[Account, Tokens]: ...

    async def sign_in(
        self, *, identifier: str, password: str, client: ClientInfo
    ) -> tuple[Account, Tokens]:
        """Raise Unauthenticated (one generic message), RateLimited, or MfaRequired."""
        ...

    async def complete_sign_in(
        self, *, mfa_token: str, code: str | None, recovery_code: str | None, client: ClientInfo
    ) -> tuple[Account, Tokens]: ...

    async def refresh(self, refresh_token: str) -> tuple[Account, Tokens]: ...

    async def authenticate(self, access_token: str) -> Authenticated:
        """Raise Unauthenticated for anything but a live session's access token."""
        ...

    async def credentials(self, access_token: str) -> Authenticated:
        """Who the access token names, by its signature and times alone: its session is
        not checked against revocations. For a caller that checks many at once
        (`revoked_among`): the sockets of a reconnect storm."""
        ...

    async def revoked_among(self, authenticated: Sequence[Authenticated]) -> list[bool]:
        """Whether each one's session is revoked, in order, in one look-up."""
        ...

    def expired(self, authenticated: Authenticated) -> bool:
        """Whether the access token `authenticated` was presented with has expired."""
        ...

    async def ensure_live(self, authenticated: Authenticated) -> None:
        """Raise Unauthenticated once the session is revoked or its token has expired
        (checked on every operation of a long-lived WebSocket)."""
        ...

    async def account(self, viewer: Viewer) -> Account: ...
    async def sign_out(self, viewer: Viewer) -> None: ...
    async def sign_out_everywhere(self, viewer: Viewer) -> int: ...
    async def end_all_sessions(self, user_id: int, reason: RevokeReason) -> int:
        """End every session of `user_id` (a ban), announced like a sign-out everywhere."""
        ...

    async def revoke_session(self, viewer: Viewer, session_id: str) -> None: ...
    async def list_sessions(self, viewer: Viewer) -> list[Session]: ...
