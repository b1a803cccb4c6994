"""The auth provider port: what the HTTP routes and GraphQL resolvers call.

Two implementations: the built-in `AuthService` (the default, everything in
PostgreSQL/Redis) and the SuperTokens adapter (when SUPERTOKENS_CONNECTION_URI is
set). Callers cannot tell them apart: same viewer, same errors.
"""

from __future__ import annotations

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

    async def authenticate(
        self, access_token: str, *, check_revocation: bool = True
    ) -> Authenticated:
        """Raise Unauthenticated for anything but a live session's access token.

        With check_revocation=False the token alone is checked (signature, issuer, times),
        not whether its session was revoked since: for a socket, which first joins its
        user's live channel (where revocations are announced) and then asks `ensure_live`,
        so that no revocation can fall between the check and the channel."""
        ...

    async def ensure_live(
        self, authenticated: Authenticated, *, revocations_watched: bool = False
    ) -> None:
        """Raise Unauthenticated once the session is revoked or its token has expired
        (checked on every operation of a long-lived WebSocket).

        revocations_watched: the caller has been on the user's live channel without a gap
        since the session was last found live, so any revocation since has reached it
        there; only the token's expiry is checked then."""
        ...

    async def account(self, viewer: Viewer) -> Account: ...
    async def sign_out(self, viewer: Viewer) -> None: ...
    async def sign_out_everywhere(self, viewer: Viewer) -> int: ...
    async def end_all_sessions(self, user_id: int, reason: RevokeReason) -> int:
        """End every session of `user_id` (a ban), announced like a sign-out everywhere."""
        ...

    async def revoke_session(self, viewer: Viewer, session_id: str) -> None: ...
    async def list_sessions(self, viewer: Viewer) -> list[Session]: ...
