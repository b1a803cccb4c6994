"""The `AuthProvider` backed by a SuperTokens core (supertokens-python, framework-less calls).

SuperTokens keeps the credentials and the sessions; Fowergram keeps the account (username,
role, profile) in `users`; `external_auth_users` maps the SuperTokens user id (subject) to our
user id. Callers cannot tell this provider from the built-in `AuthService`:

- the viewer is `Viewer(our user id, the SuperTokens session handle, users.role)`, from the
  access-token payload, where our sessions carry `fg_uid`, `fg_role` and `fg_csrf`;
- same errors: wrong credentials → `Unauthenticated(INVALID_CREDENTIALS)`; anything but a live
  session's access token → `Unauthenticated`; a taken email or username → `Conflict(field)`;
  username rules and uniqueness are ours, checked in our table before the core is asked; the
  rate limits are AuthService's;
- a revoked session is refused at once: the SDK verifies access tokens locally, so sign-out
  also puts the handle on the revocation list the built-in service uses, and announces it on
  the same `SessionEvents` (live sockets of that session close);
- a refresh rotates the refresh token and has the core promote the new one straight away
  (one `/recipe/session/verify`): the new access token then verifies locally, and the old
  refresh token counts as stolen, as with the built-in rotation.

Not supported: a second factor (MFA through SuperTokens is out of scope). `complete_sign_in`
always refuses, and an account that turned TOTP on is refused at sign-in rather than let in
on its password alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from supertokens_python.asyncio import delete_user
from supertokens_python.recipe.emailpassword.asyncio import sign_in, sign_up
from supertokens_python.recipe.emailpassword.interfaces import (
    EmailAlreadyExistsError,
    SignInOkResult,
    SignUpOkResult,
)
from supertokens_python.recipe.session import SessionContainer
from supertokens_python.recipe.session.asyncio import (
    create_new_session_without_request_response,
    get_all_session_handles_for_user,
    get_session_information,
    get_session_without_request_response,
    refresh_session_without_request_response,
    revoke_all_sessions_for_user,
    revoke_session,
)
from supertokens_python.recipe.session.exceptions import SuperTokensSessionError, TokenTheftError
from supertokens_python.types import RecipeUserId

from fowergram.adapters.auth.supertokens_claims import (
    CLAIM_ANTI_CSRF,
    CLAIM_ROLE,
    CLAIM_USER_ID,
    INVALID_TOKEN,
    anti_csrf,
    expires_at,
    session_of,
    tokens_of,
    viewer_from,
)
from fowergram.adapters.auth.supertokens_sdk import TENANT, prefetch_signing_keys
from fowergram.domain.auth.accounts import SUSPENDED, Account
from fowergram.domain.auth.guard import CredentialGuard, ThrottlePolicy
from fowergram.domain.auth.identity import (
    looks_like_email,
    normalize_email,
)
from fowergram.domain.auth.ports import (
    Accounts,
    RateLimiter,
    RevocationList,
    SecondFactor,
    Secrets,
    SessionEvents,
    SignUpListener,
)
from fowergram.domain.auth.service import INVALID_CREDENTIALS, Authenticated
from fowergram.domain.auth.sessions import ClientInfo, RevokeReason, Session, Tokens
from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.clock import Clock
from fowergram.domain.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated

log = logging.getLogger(__name__)

PROVIDER = "supertokens"  # external_auth_users.provider
MAX_LISTED_SESSIONS = 200  # as the built-in session list


class ExternalUsers(Protocol):
    async def get_user_id(self, provider: str, subject: str) -> int | None: ...
    async def get_subject(self, provider: str, user_id: int) -> str | None: ...

    async def insert_user(self, *, provider: str, subject: str, username: str, email: str) -> int:
        """Insert the account and its mapping together; raise `Conflict` when taken."""
        ...


class SuperTokensAuth:
    def __init__(
        self,
        *,
        accounts: Accounts,
        external_users: ExternalUsers,
        revocations: RevocationList,
        events: SessionEvents,
        limiter: RateLimiter,
        secrets: Secrets,
        clock: Clock,
        on_sign_up: SignUpListener | None = None,
        second_factor: SecondFactor | None = None,
        check_database: bool = False,
        throttle: ThrottlePolicy = ThrottlePolicy(),  # noqa: B008 - frozen, shared safely
    ) -> None:
        """`check_database`: also ask the core on every request whether the session still
        exists (catches sessions revoked outside Fowergram, e.g. in the SuperTokens
        dashboard), at the price of a round trip per authenticated request."""
        self._accounts = accounts
        self._external = external_users
        self._revocations = revocations
        self._events = events
        self._limiter = limiter
        self._secrets = secrets
        self._clock = clock
        self._on_sign_up = on_sign_up
        self._second_factor = second_factor
        self._check_database = check_database
        self._guard = CredentialGuard(accounts, limiter, throttle)

    async def sign_up(
        self, *, email: str, username: str, password: str, client: ClientInfo
    ) -> tuple[Account, Tokens]:
        new = await self._guard.admit_sign_up(
            email=email, username=username, password=password, client=client
        )
        email, username = new.email, new.username
        # Ours to decide, before the core creates anything.
        if await self._accounts.get_by_username(username) is not None:
            raise Conflict("this username is already taken", field="username")
        if await self._accounts.get_by_email(email) is not None:
            raise Conflict("this email is already taken", field="email")
        result = await sign_up(TENANT, email, password)
        if isinstance(result, EmailAlreadyExistsError):
            raise Conflict("this email is already taken", field="email")
        if not isinstance(result, SignUpOkResult):  # account linking to a session: not used
            raise RuntimeError(f"unexpected SuperTokens sign-up result: {result!r}")
        try:
            user_id = await self._external.insert_user(
                provider=PROVIDER, subject=result.user.id, username=username, email=email
            )
        except Conflict:
            # Taken in the meantime: the core must not keep a user we have no account for.
            await delete_user(result.user.id)
            raise
        account = await self._live_account(user_id)
        if self._on_sign_up is not None:
            await self._on_sign_up.signed_up(account)
        return account, await self._start_session(account, result.recipe_user_id, client)

    async def sign_in(
        self, *, identifier: str, password: str, client: ClientInfo
    ) -> tuple[Account, Tokens]:
        attempt = await self._guard.admit_sign_in(identifier, client)
        account = attempt.account
        recipe_user_id = await self._check_password(account, identifier, password)
        if account is None or recipe_user_id is None:
            await self._guard.failed(attempt)
            raise Unauthenticated(INVALID_CREDENTIALS)
        if self._second_factor is not None and await self._second_factor.is_required(account.id):
            raise Unauthenticated(
                "this account uses a second factor, which sign-in through SuperTokens does not "
                "support"
            )
        return account, await self._start_session(account, recipe_user_id, client)

    async def complete_sign_in(
        self, *, mfa_token: str, code: str | None, recovery_code: str | None, client: ClientInfo
    ) -> tuple[Account, Tokens]:
        raise Unauthenticated("no second factor is available with SuperTokens sign-in")

    async def refresh(self, refresh_token: str) -> tuple[Account, Tokens]:
        try:
            refreshed = await refresh_session_without_request_response(
                refresh_token, disable_anti_csrf=True
            )
            # Promote the new refresh token now (see the module docstring).
            current = await self._verify(refreshed.get_access_token(), check_database=True)
            viewer = viewer_from(current.get_access_token_payload(), current.get_handle())
            account = await self._accounts.get_by_id(viewer.user_id)
            if account is None or account.deleted_at is not None or account.banned_at:
                await revoke_session(viewer.session_id)
                await self._announce(viewer.user_id, [viewer.session_id])
                raise Unauthenticated("account no longer exists")
            if account.role != viewer.role:  # the token carries the role: bring it up to date
                await current.merge_into_access_token_payload({CLAIM_ROLE: account.role.value})
        except TokenTheftError as theft:
            # The core saw a replaced refresh token again: assume theft, end that session.
            await revoke_session(theft.session_handle)
            user_id = await self._external.get_user_id(PROVIDER, theft.user_id)
            if user_id is not None:
                await self._announce(user_id, [theft.session_handle])
            raise Unauthenticated("refresh token reused; the session has been revoked") from None
        except SuperTokensSessionError:
            raise Unauthenticated("session ended; sign in again") from None
        return account, tokens_of(current, refreshed)

    async def authenticate(self, access_token: str) -> Authenticated:
        authenticated = await self.credentials(access_token)
        if await self._revocations.contains(authenticated.viewer.session_id):
            raise Unauthenticated("session revoked")
        return authenticated

    async def credentials(self, access_token: str) -> Authenticated:
        session = await self._verify(access_token, check_database=self._check_database)
        payload = session.get_access_token_payload()
        viewer = viewer_from(payload, session.get_handle())
        return Authenticated(viewer, anti_csrf(payload), expires_at(payload))

    async def revoked_among(self, authenticated: Sequence[Authenticated]) -> list[bool]:
        return await self._revocations.contains_many([a.viewer.session_id for a in authenticated])

    def expired(self, authenticated: Authenticated) -> bool:
        return authenticated.expired(self._clock.now())

    async def ensure_live(self, authenticated: Authenticated) -> None:
        """As AuthService: for long-lived connections, checked on every operation."""
        if self.expired(authenticated):
            raise Unauthenticated("access token expired; reconnect with a fresh one")
        if await self._revocations.contains(authenticated.viewer.session_id):
            raise Unauthenticated("session revoked")

    async def account(self, viewer: Viewer) -> Account:
        return await self._live_account(viewer.user_id)

    async def sign_out(self, viewer: Viewer) -> None:
        await revoke_session(viewer.session_id)
        # Even if the core had already dropped it: its access tokens must stop working here.
        await self._announce(viewer.user_id, [viewer.session_id])

    async def sign_out_everywhere(self, viewer: Viewer) -> int:
        return await self.end_all_sessions(viewer.user_id, RevokeReason.SIGN_OUT_EVERYWHERE)

    async def end_all_sessions(self, user_id: int, reason: RevokeReason) -> int:
        subject = await self._subject(user_id)
        revoked = await revoke_all_sessions_for_user(subject)
        await self._announce(user_id, revoked)
        return len(revoked)

    async def revoke_session(self, viewer: Viewer, session_id: str) -> None:
        subject = await self._subject(viewer.user_id)
        info = await get_session_information(session_id)
        if info is None or info.user_id != subject or not await revoke_session(session_id):
            raise NotFound("no such active session")
        await self._announce(viewer.user_id, [session_id])

    async def list_sessions(self, viewer: Viewer) -> list[Session]:
        subject = await self._subject(viewer.user_id)
        handles = await get_all_session_handles_for_user(subject)
        sessions: list[Session] = []
        for handle in handles[:MAX_LISTED_SESSIONS]:  # one core call each: few per user
            info = await get_session_information(handle)
            if info is not None:
                sessions.append(session_of(info, viewer.user_id))
        return sorted(sessions, key=lambda s: s.created_at, reverse=True)

    # -- helpers -----------------------------------------------------------------------------

    async def _verify(self, access_token: str, *, check_database: bool) -> SessionContainer:
        await prefetch_signing_keys(access_token)
        try:
            session = await get_session_without_request_response(
                access_token, anti_csrf_check=False, check_database=check_database
            )
        except SuperTokensSessionError:
            raise Unauthenticated(INVALID_TOKEN) from None
        if session is None:  # only with session_required=False
            raise Unauthenticated(INVALID_TOKEN)
        return session

    async def _check_password(
        self, account: Account | None, identifier: str, password: str
    ) -> RecipeUserId | None:
        """The core's recipe user id when the password is right for `account`."""
        email = account.email if account is not None else None
        if email is None and looks_like_email(identifier):
            try:
                email = normalize_email(identifier)
            except BadUserInput:
                return None
        if email is None:
            return None
        # An email we do not know is still checked by the core: the same work either way.
        result = await sign_in(TENANT, email, password[:1024])
        if account is None or not isinstance(result, SignInOkResult):
            return None
        user_id = await self._external.get_user_id(PROVIDER, result.user.id)
        if user_id != account.id:
            log.warning("SuperTokens user %s is not account %s", result.user.id, account.id)
            return None
        return result.recipe_user_id

    async def _start_session(
        self, account: Account, recipe_user_id: RecipeUserId, client: ClientInfo
    ) -> Tokens:
        if account.banned_at is not None:
            raise Forbidden(SUSPENDED)
        session = await create_new_session_without_request_response(
            TENANT,
            recipe_user_id,
            access_token_payload={
                CLAIM_USER_ID: account.id,
                CLAIM_ROLE: account.role.value,
                CLAIM_ANTI_CSRF: self._secrets.token(),
            },
            session_data_in_database={"ip": client.ip, "userAgent": client.user_agent[:512]},
            disable_anti_csrf=True,
        )
        return tokens_of(session, session)

    async def _live_account(self, user_id: int) -> Account:
        account = await self._accounts.get_by_id(user_id)
        if account is None or account.deleted_at is not None:
            raise Unauthenticated("account no longer exists")
        return account

    async def _subject(self, user_id: int) -> str:
        subject = await self._external.get_subject(PROVIDER, user_id)
        if subject is None:
            raise Unauthenticated("this account does not sign in through SuperTokens")
        return subject

    async def _announce(self, user_id: int, session_ids: list[str]) -> None:
        if session_ids:
            await self._revocations.add(session_ids)
            await self._events.sessions_revoked(user_id, session_ids)
