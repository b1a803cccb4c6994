"""Sessions (the SuperTokens model): a short-lived access token and an opaque refresh
token that rotates on every use; presenting a replaced refresh token means it was
stolen, so the whole session is revoked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class RevokeReason(StrEnum):
    SIGN_OUT = "sign_out"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    REVOKED = "revoked"
    REFRESH_REUSE = "refresh_reuse"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason, not a secret
    BANNED = "banned"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    user_agent: str
    ip: str | None


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    session_id: str
    user_id: int
    replaced_at: datetime | None
    session_expires_at: datetime
    session_revoked_at: datetime | None


class RefreshOutcome(StrEnum):
    ROTATE = "rotate"
    REUSED = "reused"  # a replaced token again: theft, revoke the family
    SUPERSEDED = "superseded"  # replaced moments ago: a race (two tabs, a retry), not theft
    ENDED = "ended"  # session expired or revoked


def classify_refresh(
    record: RefreshTokenRecord, *, now: datetime, grace: timedelta = timedelta(0)
) -> RefreshOutcome:
    if record.session_revoked_at is not None or record.session_expires_at <= now:
        return RefreshOutcome.ENDED
    if record.replaced_at is not None:
        if now - record.replaced_at < grace:
            return RefreshOutcome.SUPERSEDED
        return RefreshOutcome.REUSED
    return RefreshOutcome.ROTATE


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    session_id: str
    anti_csrf: str  # must accompany cookie-authenticated writes


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a sign-in comes from: shown in the session list, used for throttling."""

    ip: str | None
    user_agent: str
