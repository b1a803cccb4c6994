"""What Fowergram puts into and reads from SuperTokens sessions: claims, viewer, tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from supertokens_python.recipe.session import SessionContainer
from supertokens_python.recipe.session.interfaces import SessionInformationResult

from fowergram.domain.auth.sessions import Session, Tokens
from fowergram.domain.auth.viewer import Role, Viewer
from fowergram.domain.errors import Unauthenticated

# Our claims in the access-token payload, beside SuperTokens' own (sub, sessionHandle, …).
CLAIM_USER_ID = "fg_uid"
CLAIM_ROLE = "fg_role"
CLAIM_ANTI_CSRF = "fg_csrf"
INVALID_TOKEN = "access token expired or invalid"  # noqa: S105 - a message, not a secret
_ROLES = frozenset(role.value for role in Role)


def from_ms(epoch_ms: float) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def expires_at(payload: dict[str, Any]) -> datetime:
    """When the access token with this payload expires (`exp`, seconds)."""
    return datetime.fromtimestamp(float(payload["exp"]), tz=UTC)


def anti_csrf(payload: dict[str, Any]) -> str:
    """SuperTokens' anti-CSRF token when the core issued one, else the one we put in."""
    issued = payload.get("antiCsrfToken")
    if isinstance(issued, str) and issued:
        return issued
    return str(payload.get(CLAIM_ANTI_CSRF, ""))


def viewer_from(payload: dict[str, Any], session_handle: str) -> Viewer:
    user_id, role = payload.get(CLAIM_USER_ID), payload.get(CLAIM_ROLE)
    if type(user_id) is not int or role not in _ROLES or not anti_csrf(payload):
        raise Unauthenticated(INVALID_TOKEN)  # a session someone else made on this core
    return Viewer(user_id, session_handle, Role(role))


def tokens_of(session: SessionContainer, refresh: SessionContainer) -> Tokens:
    """The tokens of `session`, with the refresh token that `refresh` was issued."""
    payload = session.get_access_token_payload()
    if refresh.refresh_token is None:
        raise RuntimeError("SuperTokens returned a session without a refresh token")
    return Tokens(
        access_token=session.get_access_token(),
        access_expires_at=expires_at(payload),
        refresh_token=refresh.refresh_token.token,
        refresh_expires_at=from_ms(refresh.refresh_token.expiry),
        session_id=session.get_handle(),
        anti_csrf=anti_csrf(payload),
    )


def session_of(info: SessionInformationResult, user_id: int) -> Session:
    """A session as the session list shows it; we stored the client in its database data."""
    data = info.session_data_in_database
    ip = data.get("ip")
    created_at = from_ms(info.time_created)
    return Session(
        id=info.session_handle,
        user_id=user_id,
        created_at=created_at,
        last_seen_at=created_at,  # the core does not track it
        expires_at=from_ms(info.expiry),  # of the refresh token: slides at each refresh
        revoked_at=None,
        user_agent=str(data.get("userAgent", "")),
        ip=ip if isinstance(ip, str) else None,
    )
