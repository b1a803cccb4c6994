"""What every auth provider does around credentials: normalise and validate what people
type, find the account an identifier names, and throttle.

Throttling failures: per (address, identifier as normalised) tightly, so a guesser is
stopped without locking the owner out from their own address, and the answer is the
same whether or not the identifier names an account; per account loosely, from any
address, to brake a distributed guesser."""

from __future__ import annotations

from dataclasses import dataclass

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.identity import (
    looks_like_email,
    normalize_email,
    normalize_identifier,
    normalize_username,
    validate_password,
)
from fowergram.domain.auth.ports import Accounts, Rate, RateLimiter
from fowergram.domain.auth.sessions import ClientInfo
from fowergram.domain.errors import BadUserInput

SIGN_IN_PER_IP = Rate(limit=30, window_s=60)
FAILURES_PER_IDENTIFIER_AND_IP = Rate(limit=10, window_s=15 * 60)
FAILURES_PER_ACCOUNT = Rate(limit=100, window_s=15 * 60)
SIGN_UP_PER_IP = Rate(limit=10, window_s=60 * 60)


@dataclass(frozen=True, slots=True)
class NewCredentials:
    email: str
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    account: Account | None  # None: no such account; the caller still spends a check
    spelling_key: str  # this address and this identifier
    account_key: str | None  # the account, from anywhere


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    sign_in_per_ip: Rate = SIGN_IN_PER_IP
    failures_per_identifier_and_ip: Rate = FAILURES_PER_IDENTIFIER_AND_IP
    failures_per_account: Rate = FAILURES_PER_ACCOUNT
    sign_up_per_ip: Rate = SIGN_UP_PER_IP


class CredentialGuard:
    def __init__(self, accounts: Accounts, limiter: RateLimiter, policy: ThrottlePolicy) -> None:
        self._accounts = accounts
        self._limiter = limiter
        self._policy = policy

    async def admit_sign_up(
        self, *, email: str, username: str, password: str, client: ClientInfo
    ) -> NewCredentials:
        credentials = NewCredentials(
            normalize_email(email), normalize_username(username), validate_password(password)
        )
        if client.ip:
            await self._limiter.hit(f"signup:ip:{client.ip}", self._policy.sign_up_per_ip)
        return credentials

    async def admit_sign_in(self, identifier: str, client: ClientInfo) -> SignInAttempt:
        """Count the attempt for the IP, find the account, refuse if it is at its limit."""
        if client.ip:
            await self._limiter.hit(f"signin:ip:{client.ip}", self._policy.sign_in_per_ip)
        spelling_key = f"signin:fail:{client.ip}:{normalize_identifier(identifier)[:320]}"
        await self._limiter.check(spelling_key, self._policy.failures_per_identifier_and_ip)
        account = await self.find_account(identifier)
        account_key = f"signin:fail:account:{account.id}" if account else None
        if account_key is not None:
            await self._limiter.check(account_key, self._policy.failures_per_account)
        return SignInAttempt(account, spelling_key, account_key)

    async def failed(self, attempt: SignInAttempt) -> None:
        await self._limiter.hit(attempt.spelling_key, self._policy.failures_per_identifier_and_ip)
        if attempt.account_key is not None:
            await self._limiter.hit(attempt.account_key, self._policy.failures_per_account)

    async def find_account(self, identifier: str) -> Account | None:
        try:
            if looks_like_email(identifier):
                return await self._accounts.get_by_email(normalize_email(identifier))
            return await self._accounts.get_by_username(normalize_username(identifier))
        except BadUserInput:
            return None  # cannot exist: same answer as a wrong password
