"""TOTP second factor (RFC 6238) with one-time recovery codes.

Enrolment is two steps (the secret is shown, then a first code proves the app has it).
A code's time step is recorded on use, so an intercepted code cannot be replayed.
Turning the factor off needs a fresh code or recovery code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fowergram.domain.auth.ports import Accounts, Rate, RateLimiter, Secrets
from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.clock import Clock
from fowergram.domain.errors import BadUserInput, Conflict, NotFound

RECOVERY_CODES = 10
ATTEMPTS_PER_USER = Rate(limit=5, window_s=60)
WRONG_CODE = "the code is not valid"


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    secret: str
    confirmed_at: datetime | None
    last_used_step: int | None

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str
    otpauth_uri: str


class TotpAlgorithm(Protocol):
    def new_secret(self) -> str: ...
    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str: ...

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        """The time step `code` belongs to (within the allowed drift), else None."""
        ...


class MfaStore(Protocol):
    async def get_totp(self, user_id: int) -> TotpEnrollment | None: ...
    async def start_totp(self, user_id: int, secret: str) -> None: ...
    async def confirm_totp(self, user_id: int, step: int, recovery_hashes: list[bytes]) -> None: ...

    async def use_step(self, user_id: int, step: int) -> bool:
        """Record `step` as used if it is newer than the last one used; False = replay."""
        ...

    async def use_recovery_code(self, user_id: int, code_hash: bytes) -> bool: ...
    async def delete_totp(self, user_id: int) -> None: ...


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_recovery_code(code: str) -> bytes:
    # Recovery codes carry 80 random bits and attempts are throttled: sha256 suffices.
    return hashlib.sha256(normalize_recovery_code(code).encode()).digest()


class MfaService:
    def __init__(
        self,
        *,
        store: MfaStore,
        totp: TotpAlgorithm,
        accounts: Accounts,
        limiter: RateLimiter,
        secrets: Secrets,
        clock: Clock,
        issuer: str,
    ) -> None:
        self._store = store
        self._totp = totp
        self._accounts = accounts
        self._limiter = limiter
        self._secrets = secrets
        self._clock = clock
        self._issuer = issuer

    async def enroll(self, viewer: Viewer) -> TotpSetup:
        current = await self._store.get_totp(viewer.user_id)
        if current is not None and current.active:
            raise Conflict("two-factor authentication is already on")
        account = await self._accounts.get_by_id(viewer.user_id)
        if account is None:
            raise NotFound("no such account")
        secret = self._totp.new_secret()
        await self._store.start_totp(viewer.user_id, secret)
        uri = self._totp.provisioning_uri(secret, account=account.email, issuer=self._issuer)
        return TotpSetup(secret=secret, otpauth_uri=uri)

    async def confirm(self, viewer: Viewer, code: str) -> list[str]:
        """Turn the factor on with a first valid code; return the recovery codes (once)."""
        await self._limiter.hit(f"mfa:user:{viewer.user_id}", ATTEMPTS_PER_USER)
        enrollment = await self._store.get_totp(viewer.user_id)
        if enrollment is None:
            raise NotFound("start the enrolment first")
        if enrollment.active:
            raise Conflict("two-factor authentication is already on")
        step = self._totp.matching_step(enrollment.secret, code, self._clock.now())
        if step is None:
            raise BadUserInput(WRONG_CODE, field="code")
        codes = [self._secrets.recovery_code() for _ in range(RECOVERY_CODES)]
        await self._store.confirm_totp(viewer.user_id, step, [hash_recovery_code(c) for c in codes])
        return codes

    async def is_required(self, user_id: int) -> bool:
        enrollment = await self._store.get_totp(user_id)
        return enrollment is not None and enrollment.active

    async def verify(
        self, user_id: int, *, code: str | None = None, recovery_code: str | None = None
    ) -> bool:
        """Check a second factor (consuming it): a TOTP code or a recovery code."""
        await self._limiter.hit(f"mfa:user:{user_id}", ATTEMPTS_PER_USER)
        enrollment = await self._store.get_totp(user_id)
        if enrollment is None or not enrollment.active:
            return False
        if code is not None:
            step = self._totp.matching_step(enrollment.secret, code, self._clock.now())
            return step is not None and await self._store.use_step(user_id, step)
        if recovery_code is not None:
            return await self._store.use_recovery_code(user_id, hash_recovery_code(recovery_code))
        return False

    async def disable(
        self, viewer: Viewer, *, code: str | None = None, recovery_code: str | None = None
    ) -> None:
        if not await self.is_required(viewer.user_id):
            raise NotFound("two-factor authentication is not on")
        if not await self.verify(viewer.user_id, code=code, recovery_code=recovery_code):
            raise BadUserInput(WRONG_CODE, field="code")
        await self._store.delete_totp(viewer.user_id)
