"""Proving an email address and recovering a forgotten password, by mailed links.

Tokens are single-use, expire, and are stored hashed. Asking for a reset answers the
same whether or not the address has an account. A completed reset ends every session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.identity import normalize_email, validate_password
from fowergram.domain.auth.ports import (
    Accounts,
    PasswordHasher,
    Rate,
    RateLimiter,
    RevocationList,
    Secrets,
    SessionEvents,
    Sessions,
)
from fowergram.domain.auth.sessions import ClientInfo, RevokeReason
from fowergram.domain.auth.token_hash import hash_token
from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.clock import Clock
from fowergram.domain.errors import BadUserInput, Forbidden, Unauthenticated
from fowergram.domain.mail import Mailer, password_reset_email, verification_email

INVALID_TOKEN = "this link is invalid or has expired"  # noqa: S105 - a message
RESET_PER_IP = Rate(limit=10, window_s=3600)
MAILS_PER_ADDRESS = Rate(limit=3, window_s=3600)


class Purpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a secret


@dataclass(frozen=True, slots=True)
class TokenOwner:
    user_id: int
    email: str


class MailedTokens(Protocol):
    async def insert(
        self, *, token_hash: bytes, user_id: int, purpose: Purpose, email: str, expires_at: datetime
    ) -> None: ...

    async def consume(self, token_hash: bytes, purpose: Purpose) -> TokenOwner | None:
        """Mark the token used if it is unused and unexpired; None otherwise."""
        ...


class EmailVerification(Protocol):
    async def mark_email_verified(self, user_id: int, email: str) -> bool:
        """True if `email` is still the account's address (and is now verified)."""
        ...


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    links_base: str  # the web app's origin; links are <base>/verify-email?token=…
    app_name: str
    verify_ttl: timedelta = timedelta(days=2)
    reset_ttl: timedelta = timedelta(minutes=30)
    reset_per_ip: Rate = RESET_PER_IP
    mails_per_address: Rate = MAILS_PER_ADDRESS


class AccountRecovery:
    def __init__(
        self,
        *,
        accounts: Accounts,
        verification: EmailVerification,
        tokens: MailedTokens,
        sessions: Sessions,
        revocations: RevocationList,
        events: SessionEvents,
        hasher: PasswordHasher,
        mailer: Mailer,
        limiter: RateLimiter,
        secrets: Secrets,
        clock: Clock,
        policy: RecoveryPolicy,
        passwords_held_elsewhere: bool = False,
    ) -> None:
        self._accounts = accounts
        self._verification = verification
        self._tokens = tokens
        self._sessions = sessions
        self._revocations = revocations
        self._events = events
        self._hasher = hasher
        self._mailer = mailer
        self._limiter = limiter
        self._secrets = secrets
        self._clock = clock
        self._policy = policy
        # With an external provider (SuperTokens) the password is not ours to reset.
        self._passwords_held_elsewhere = passwords_held_elsewhere

    async def signed_up(self, account: Account) -> None:
        await self.send_verification(account.id)

    async def send_verification(self, user_id: int) -> bool:
        """Mail a verification link to the account's current address (False: nothing to do)."""
        account = await self._accounts.get_by_id(user_id)
        if account is None or account.deleted_at is not None or account.email_verified:
            return False
        token = await self._issue(account.id, account.email, Purpose.VERIFY_EMAIL)
        link = self._link("verify-email", token)
        await self._mailer.send(
            verification_email(account.email, link, app_name=self._policy.app_name)
        )
        return True

    async def request_verification(self, viewer: Viewer) -> bool:
        await self._limiter.hit(f"verify:user:{viewer.user_id}", self._policy.mails_per_address)
        return await self.send_verification(viewer.user_id)

    async def verify_email(self, token: str) -> int:
        owner = await self._tokens.consume(hash_token(token), Purpose.VERIFY_EMAIL)
        if owner is None or not await self._verification.mark_email_verified(
            owner.user_id, owner.email
        ):
            raise BadUserInput(INVALID_TOKEN, field="token")
        return owner.user_id

    async def request_password_reset(self, email: str, client: ClientInfo) -> None:
        """Same answer, known address or not: only the mailbox's owner learns which."""
        self._refuse_if_held_elsewhere()
        address = normalize_email(email)
        if client.ip:
            await self._limiter.hit(f"reset:ip:{client.ip}", self._policy.reset_per_ip)
        await self._limiter.hit(f"reset:email:{address}", self._policy.mails_per_address)
        account = await self._accounts.get_by_email(address)
        if account is None:
            return
        token = await self._issue(account.id, account.email, Purpose.RESET_PASSWORD)
        minutes = int(self._policy.reset_ttl.total_seconds() // 60)
        message = password_reset_email(
            account.email,
            self._link("reset-password", token),
            app_name=self._policy.app_name,
            ttl_minutes=minutes,
        )
        await self._mailer.send(message)

    async def reset_password(self, token: str, new_password: str) -> int:
        self._refuse_if_held_elsewhere()
        validate_password(new_password)
        owner = await self._tokens.consume(hash_token(token), Purpose.RESET_PASSWORD)
        if owner is None:
            raise BadUserInput(INVALID_TOKEN, field="token")
        account = await self._accounts.get_by_id(owner.user_id)
        if account is None or account.deleted_at is not None:
            raise Unauthenticated("account no longer exists")
        await self._accounts.set_password_hash(account.id, await self._hasher.hash(new_password))
        # Whoever knew the old password may hold sessions: end them all.
        revoked = await self._sessions.revoke_all(account.id, RevokeReason.PASSWORD_RESET)
        if revoked:
            await self._revocations.add(revoked)
            await self._events.sessions_revoked(account.id, revoked)
        return account.id

    def _refuse_if_held_elsewhere(self) -> None:
        if self._passwords_held_elsewhere:
            raise Forbidden("passwords are managed by the identity provider; reset them there")

    async def _issue(self, user_id: int, email: str, purpose: Purpose) -> str:
        token = self._secrets.token()
        ttl = self._policy.verify_ttl if purpose is Purpose.VERIFY_EMAIL else self._policy.reset_ttl
        await self._tokens.insert(
            token_hash=hash_token(token),
            user_id=user_id,
            purpose=purpose,
            email=email,
            expires_at=self._clock.now() + ttl,
        )
        return token

    def _link(self, page: str, token: str) -> str:
        return f"{self._policy.links_base.rstrip('/')}/{page}?token={quote(token)}"
