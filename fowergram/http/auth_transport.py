"""How sessions travel over HTTP: header mode for apps, cookie mode for browsers.

Header mode: `Authorization: Bearer <access>`; tokens in JSON bodies.
Cookie mode (requested with `X-Auth-Mode: cookie`): httpOnly cookies, `Secure` in
production, `SameSite=Lax`; a state-changing request authenticated by cookie must carry
the session's anti-CSRF token in `X-CSRF-Token` (returned at sign-in and refresh).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.responses import Response

from fowergram.domain.auth.provider import AuthProvider
from fowergram.domain.auth.service import Authenticated
from fowergram.domain.auth.sessions import ClientInfo, Tokens
from fowergram.domain.errors import Forbidden, Unauthenticated

ACCESS_COOKIE = "fg_access"
REFRESH_COOKIE = "fg_refresh"
REFRESH_PATH = "/auth/session/refresh"
CSRF_HEADER = "x-csrf-token"
MODE_HEADER = "x-auth-mode"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class StaleSessionCookie(Unauthenticated):
    """The access cookie no longer authenticates (revoked, expired, rotated away). Answers
    clear it: scripts cannot delete an httpOnly cookie themselves."""


@dataclass(frozen=True, slots=True)
class Presented:
    token: str
    via_cookie: bool


def wants_cookies(connection: HTTPConnection) -> bool:
    return connection.headers.get(MODE_HEADER, "").lower() == "cookie"


def _ip(host: str | None) -> str | None:
    # The host may come from a proxy's X-Forwarded-For: only a well-formed address counts.
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def client_info(connection: HTTPConnection) -> ClientInfo:
    host = connection.client.host if connection.client else None
    return ClientInfo(ip=_ip(host), user_agent=connection.headers.get("user-agent", "")[:512])


def presented_access_token(connection: HTTPConnection) -> Presented | None:
    header = connection.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer <token>'")
        return Presented(token.strip(), via_cookie=False)
    cookie = connection.cookies.get(ACCESS_COOKIE)
    return Presented(cookie, via_cookie=True) if cookie else None


async def authenticate(
    connection: HTTPConnection, auth: AuthProvider, method: str
) -> Authenticated | None:
    """The caller's session, or None when no credentials were presented at all."""
    presented = presented_access_token(connection)
    if presented is None:
        return None
    try:
        authenticated = await auth.authenticate(presented.token)
    except Unauthenticated as error:
        if presented.via_cookie:
            raise StaleSessionCookie(error.message) from None
        raise
    if presented.via_cookie and method not in _SAFE_METHODS:
        sent = connection.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), authenticated.anti_csrf.encode()):
            raise Forbidden("missing or wrong X-CSRF-Token for a cookie session")
    return authenticated


def set_session_cookies(response: Response, tokens: Tokens, *, secure: bool) -> None:
    response.set_cookie(
        ACCESS_COOKIE,
        tokens.access_token,
        expires=tokens.access_expires_at,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        tokens.refresh_token,
        expires=tokens.refresh_expires_at,
        httponly=True,
        secure=secure,
        samesite="lax",
        path=REFRESH_PATH,  # sent only where it is used
    )
    response.headers[CSRF_HEADER] = tokens.anti_csrf


def clear_session_cookies(response: Response, *, secure: bool) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_PATH, secure=secure, httponly=True, samesite="lax"
    )
