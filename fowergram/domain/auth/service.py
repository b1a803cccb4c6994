"""The auth use cases: sign up, sign in, refresh, sign out, sessions, authenticate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fowergram.domain.auth.accounts import SUSPENDED, Account
from fowergram.domain.auth.guard import CredentialGuard, ThrottlePolicy
from fowergram.domain.auth.ports import (
    AccessClaims,
    AccessTokens,
    Accounts,
    MfaChallenges,
    PasswordHasher,
    RateLimiter,
    RevocationList,
    SecondFactor,
    Secrets,
    SessionEvents,
    Sessions,
    SignUpListener,
)
from fowergram.domain.auth.sessions import (
    ClientInfo,
    RefreshOutcome,
    RevokeReason,
    Session,
    Tokens,
    classify_refresh,
)
from fowergram.domain.auth.token_hash import hash_token
from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.clock import Clock
from fowergram.domain.errors import (
    BadUserInput,
    Forbidden,
    MfaRequired,
    NotFound,
    Unauthenticated,
)

INVALID_CREDENTIALS = "wrong email, username or password"
MFA_CHALLENGE_TTL_S = 5 * 60


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    access_ttl: timedelta
    refresh_ttl: timedelta
    # A token replaced this recently is answered 401 without ending the session: two tabs
    # refreshing at once, or a retry after a lost response, are not theft.
    reuse_grace: timedelta = timedelta(seconds=10)
    throttle: ThrottlePolicy = ThrottlePolicy()  # noqa: RUF009 - frozen, shared safely


@dataclass(frozen=True, slots=True)
class Authenticated:
    viewer: Viewer
    anti_csrf: str
    expires_at: datetime | None = None  # when the presented access token expires

    def expired(self, now: datetime) -> bool:
        """Whether the access token it was presented with has expired (a socket outlives
        its token: it must reconnect with a fresh one)."""
        return self.expires_at is not None and self.expires_at <= now


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class AuthService:
    def __init__(
        self,
        *,
        accounts: Accounts,
        sessions: Sessions,
        hasher: PasswordHasher,
        tokens: AccessTokens,
        revocations: RevocationList,
        events: SessionEvents,
        limiter: RateLimiter,
        secrets: Secrets,
        clock: Clock,
        policy: AuthPolicy,
        dummy_password_hash: str,
        on_sign_up: SignUpListener | None = None,
        second_factor: SecondFactor | None = None,
        challenges: MfaChallenges | None = None,
    ) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._hasher = hasher
        self._tokens = tokens
        self._revocations = revocations
        self._events = events
        self._limiter = limiter
        self._secrets = secrets
        self._clock = clock
        self._policy = policy
        # Verified against when the account does not exist, so both paths cost the same.
        self._dummy_hash = dummy_password_hash
        self._on_sign_up = on_sign_up
        self._second_factor = second_factor
        self._challenges = challenges
        self._guard = CredentialGuard(accounts, limiter, policy.throttle)

    async def sign_up(
        self, *, email: str, username: str, password: str, client: ClientInfo
    ) -> tuple[Account, Tokens]:
        new = await self._guard.admit_sign_up(
            email=email, username=username, password=password, client=client
        )
        account = await self._accounts.insert(
            username=new.username, email=new.email, password_hash=await self._hasher.hash(password)
        )
        if self._on_sign_up is not None:
            await self._on_sign_up.signed_up(account)
        return account, await self._start_session(account, client)

    async def sign_in(
        self, *, identifier: str, password: str, client: ClientInfo
    ) -> tuple[Account, Tokens]:
        attempt = await self._guard.admit_sign_in(identifier, client)
        account = attempt.account
        stored_hash = account.password_hash if account else None
        valid = await self._hasher.verify(stored_hash or self._dummy_hash, password[:1024])
        if account is None or stored_hash is None or not valid:
            await self._guard.failed(attempt)
            raise Unauthenticated(INVALID_CREDENTIALS)
        if self._hasher.needs_rehash(stored_hash):
            await self._accounts.set_password_hash(account.id, await self._hasher.hash(password))
        await self._demand_second_factor(account)
        return account, await self._start_session(account, client)

    async def sign_in_verified(self, account: Account, client: ClientInfo) -> Tokens:
        """A session for an account another party vouched for (a social sign-in);
        the second factor is still demanded when the account has one."""
        await self._demand_second_factor(account)
        return await self._start_session(account, client)

    async def complete_sign_in(
        self,
        *,
        mfa_token: str,
        code: str | None,
        recovery_code: str | None,
        client: ClientInfo,
    ) -> tuple[Account, Tokens]:
        """The second step of a sign-in that answered MFA_REQUIRED."""
        if self._second_factor is None or self._challenges is None:
            raise Unauthenticated("no second factor is configured")
        challenge = hash_token(mfa_token)
        user_id = await self._challenges.get(challenge)
        if user_id is None:
            raise Unauthenticated("this sign-in has expired; start again")
        if code is None and recovery_code is None:
            raise BadUserInput("give a code or a recovery code", field="code")
        if not await self._second_factor.verify(user_id, code=code, recovery_code=recovery_code):
            raise BadUserInput("the code is not valid", field="code")
        await self._challenges.delete(challenge)
        account = await self._accounts.get_by_id(user_id)
        if account is None or account.deleted_at is not None:
            raise Unauthenticated("account no longer exists")
        return account, await self._start_session(account, client)

    async def _demand_second_factor(self, account: Account) -> None:
        if self._second_factor is None or self._challenges is None:
            return
        if await self._second_factor.is_required(account.id):
            mfa_token = self._secrets.token()
            await self._challenges.put(hash_token(mfa_token), account.id, ttl_s=MFA_CHALLENGE_TTL_S)
            raise MfaRequired(mfa_token)

    async def refresh(self, refresh_token: str) -> tuple[Account, Tokens]:
        old_hash = hash_token(refresh_token)
        record = await self._sessions.find_refresh(old_hash)
        if record is None:
            raise Unauthenticated("refresh token not recognised")
        outcome = classify_refresh(record, now=self._clock.now(), grace=self._policy.reuse_grace)
        if outcome is RefreshOutcome.ENDED:
            raise Unauthenticated("session ended; sign in again")
        if outcome is RefreshOutcome.SUPERSEDED:
            raise Unauthenticated("this refresh token was just rotated; use the newest one")
        if outcome is RefreshOutcome.ROTATE:
            new_token = self._secrets.token()
            expires_at = self._clock.now() + self._policy.refresh_ttl
            rotated = await self._sessions.rotate(
                old_hash=old_hash,
                new_hash=hash_token(new_token),
                session_id=record.session_id,
                expires_at=expires_at,
            )
            if rotated:
                account = await self._accounts.get_by_id(record.user_id)
                if account is None or account.deleted_at is not None:
                    raise Unauthenticated("account no longer exists")
                if account.banned_at is not None:  # its sessions were ended; a late race
                    raise Unauthenticated(SUSPENDED)
                tokens = await self._issue(account, record.session_id, new_token, expires_at)
                return account, tokens
            # Another use of this token won the race since we read it: judge it as it
            # stands now (within the grace period that is a race, not theft).
            raced = await self._sessions.find_refresh(old_hash)
            if raced is not None and (
                classify_refresh(raced, now=self._clock.now(), grace=self._policy.reuse_grace)
                is RefreshOutcome.SUPERSEDED
            ):
                raise Unauthenticated("this refresh token was just rotated; use the newest one")
        # A replaced token came back: assume theft, end the family.
        await self._revoke(record.user_id, [record.session_id], RevokeReason.REFRESH_REUSE)
        raise Unauthenticated("refresh token reused; the session has been revoked")

    async def authenticate(self, access_token: str) -> Authenticated:
        authenticated = await self.credentials(access_token)
        if await self._revocations.contains(authenticated.viewer.session_id):
            raise Unauthenticated("session revoked")
        return authenticated

    async def credentials(self, access_token: str) -> Authenticated:
        claims = await self._tokens.verify(access_token)
        viewer = Viewer(claims.user_id, claims.session_id, claims.role)
        return Authenticated(viewer, claims.anti_csrf, claims.expires_at)

    async def revoked_among(self, authenticated: Sequence[Authenticated]) -> list[bool]:
        return await self._revocations.contains_many([a.viewer.session_id for a in authenticated])

    def expired(self, authenticated: Authenticated) -> bool:
        return authenticated.expired(self._clock.now())

    async def ensure_live(self, authenticated: Authenticated) -> None:
        """For long-lived connections: the session must still be unrevoked and the token
        it authenticated with unexpired."""
        if self.expired(authenticated):
            raise Unauthenticated("access token expired; reconnect with a fresh one")
        if await self._revocations.contains(authenticated.viewer.session_id):
            raise Unauthenticated("session revoked")

    async def sign_out(self, viewer: Viewer) -> None:
        await self._revoke(viewer.user_id, [viewer.session_id], RevokeReason.SIGN_OUT)

    async def sign_out_everywhere(self, viewer: Viewer) -> int:
        return await self.end_all_sessions(viewer.user_id, RevokeReason.SIGN_OUT_EVERYWHERE)

    async def end_all_sessions(self, user_id: int, reason: RevokeReason) -> int:
        revoked = await self._sessions.revoke_all(user_id, reason)
        await self._announce(user_id, revoked)
        return len(revoked)

    async def revoke_session(self, viewer: Viewer, session_id: str) -> None:
        if not _is_uuid(session_id) or not await self._revoke(
            viewer.user_id, [session_id], RevokeReason.REVOKED
        ):
            raise NotFound("no such active session")

    async def account(self, viewer: Viewer) -> Account:
        account = await self._accounts.get_by_id(viewer.user_id)
        if account is None or account.deleted_at is not None:
            raise Unauthenticated("account no longer exists")
        return account

    async def list_sessions(self, viewer: Viewer) -> list[Session]:
        return await self._sessions.list_active(viewer.user_id)

    async def _start_session(self, account: Account, client: ClientInfo) -> Tokens:
        if account.banned_at is not None:  # after the credentials: nobody else learns it
            raise Forbidden(SUSPENDED)
        session_id = self._secrets.session_id()
        refresh_token = self._secrets.token()
        expires_at = self._clock.now() + self._policy.refresh_ttl
        await self._sessions.create(
            session_id=session_id,
            user_id=account.id,
            refresh_hash=hash_token(refresh_token),
            expires_at=expires_at,
            client=client,
        )
        return await self._issue(account, session_id, refresh_token, expires_at)

    async def _issue(
        self, account: Account, session_id: str, refresh_token: str, refresh_expires_at: datetime
    ) -> Tokens:
        access_expires_at = self._clock.now() + self._policy.access_ttl
        anti_csrf = self._secrets.token()
        access_token = await self._tokens.issue(
            AccessClaims(account.id, session_id, account.role, anti_csrf, access_expires_at)
        )
        return Tokens(
            access_token=access_token,
            access_expires_at=access_expires_at,
            refresh_token=refresh_token,
            refresh_expires_at=refresh_expires_at,
            session_id=session_id,
            anti_csrf=anti_csrf,
        )

    async def _revoke(self, user_id: int, session_ids: list[str], reason: RevokeReason) -> bool:
        revoked = await self._sessions.revoke(session_ids, reason, user_id=user_id)
        await self._announce(user_id, revoked)
        return bool(revoked)

    async def _announce(self, user_id: int, session_ids: list[str]) -> None:
        if session_ids:
            await self._revocations.add(session_ids)
            await self._events.sessions_revoked(user_id, session_ids)
