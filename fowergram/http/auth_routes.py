"""REST under /auth: the SuperTokens-like flows, calling the same service as GraphQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fowergram.adapters.redis.socket_tickets import TICKET_TTL_S
from fowergram.container import Services
from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.service import Authenticated
from fowergram.domain.auth.sessions import Session, Tokens
from fowergram.domain.errors import BadUserInput, DomainError, Unauthenticated
from fowergram.http.auth_transport import (
    REFRESH_COOKIE,
    StaleSessionCookie,
    authenticate,
    clear_session_cookies,
    client_info,
    presented_access_token,
    set_session_cookies,
    wants_cookies,
)
from fowergram.http.errors import error_response
from fowergram.http.responses import JSONResponse

Handler = Callable[[Request], Awaitable[Response]]


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": str(account.id),
        "username": account.username,
        "email": account.email,
        "emailVerified": account.email_verified,
        "role": account.role.value,
    }


def session_json(session: Session, current: str) -> dict[str, Any]:
    return {
        "id": session.id,
        "createdAt": session.created_at.isoformat(),
        "lastSeenAt": session.last_seen_at.isoformat(),
        "expiresAt": session.expires_at.isoformat(),
        "userAgent": session.user_agent,
        "ip": session.ip,
        "current": session.id == current,
    }


async def json_fields(request: Request, *fields: str) -> dict[str, str]:
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadUserInput("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadUserInput("the body must be a JSON object")
    values: dict[str, str] = {}
    for field in fields:
        value = data.get(field)
        if not isinstance(value, str):
            raise BadUserInput(f"{field} is required and must be a string", field=field)
        values[field] = value
    return values


def services_of(request: Request) -> Services:
    services: Services = request.state.container.services
    return services


def _secure(request: Request) -> bool:
    return bool(request.state.container.settings.is_production)


def session_response(
    request: Request, account: Account, tokens: Tokens, status_code: int = 200
) -> Response:
    body: dict[str, Any] = {
        "user": account_json(account),
        "sessionId": tokens.session_id,
        "accessTokenExpiresAt": tokens.access_expires_at.isoformat(),
        "antiCsrf": tokens.anti_csrf,
    }
    if wants_cookies(request):
        response = JSONResponse(body, status_code=status_code)
        set_session_cookies(response, tokens, secure=_secure(request))
        return response
    body |= {
        "accessToken": tokens.access_token,
        "refreshToken": tokens.refresh_token,
        "refreshTokenExpiresAt": tokens.refresh_expires_at.isoformat(),
    }
    return JSONResponse(body, status_code=status_code)


async def signed_in(request: Request) -> Authenticated:
    authenticated = await authenticate(request, services_of(request).auth, request.method)
    if authenticated is None:
        raise Unauthenticated()
    return authenticated


async def sign_up(request: Request) -> Response:
    data = await json_fields(request, "email", "username", "password")
    account, tokens = await services_of(request).auth.sign_up(
        email=data["email"],
        username=data["username"],
        password=data["password"],
        client=client_info(request),
    )
    return session_response(request, account, tokens, status_code=201)


async def sign_in(request: Request) -> Response:
    data = await json_fields(request, "identifier", "password")
    account, tokens = await services_of(request).auth.sign_in(
        identifier=data["identifier"], password=data["password"], client=client_info(request)
    )
    return session_response(request, account, tokens)


async def refresh(request: Request) -> Response:
    auth = services_of(request).auth
    if wants_cookies(request):
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise Unauthenticated("no refresh cookie")
    else:
        token = (await json_fields(request, "refreshToken"))["refreshToken"]
    account, tokens = await auth.refresh(token)
    return session_response(request, account, tokens)


async def sign_out(request: Request) -> Response:
    authenticated = await signed_in(request)
    await services_of(request).auth.sign_out(authenticated.viewer)
    response = JSONResponse({"signedOut": True})
    clear_session_cookies(response, secure=_secure(request))
    return response


async def sign_out_everywhere(request: Request) -> Response:
    authenticated = await signed_in(request)
    count = await services_of(request).auth.sign_out_everywhere(authenticated.viewer)
    response = JSONResponse({"signedOut": True, "sessionsRevoked": count})
    clear_session_cookies(response, secure=_secure(request))
    return response


async def list_sessions(request: Request) -> Response:
    authenticated = await signed_in(request)
    sessions = await services_of(request).auth.list_sessions(authenticated.viewer)
    current = authenticated.viewer.session_id
    return JSONResponse({"sessions": [session_json(s, current) for s in sessions]})


async def revoke_session(request: Request) -> Response:
    authenticated = await signed_in(request)
    await services_of(request).auth.revoke_session(
        authenticated.viewer, str(request.path_params["session_id"])
    )
    return JSONResponse({"revoked": True})


async def socket_ticket(request: Request) -> Response:
    """A one-time, one-minute ticket for `connection_init` ({"ticket": …}): how a browser
    whose access token is an httpOnly cookie authenticates a WebSocket."""
    await signed_in(request)  # cookie sessions: the anti-CSRF header was checked here
    presented = presented_access_token(request)
    assert presented is not None
    ticket = await request.state.container.socket_tickets.issue(presented.token)
    return JSONResponse({"ticket": ticket, "expiresIn": TICKET_TTL_S})


async def jwks(request: Request) -> Response:
    keys = await request.state.container.signing_keys.jwks()
    return JSONResponse(keys, headers={"cache-control": "public, max-age=60"})


def answering_errors(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except DomainError as error:
            response = error_response(error)
            if isinstance(error, StaleSessionCookie):
                clear_session_cookies(response, secure=_secure(request))
            return response

    return endpoint


def auth_routes() -> list[BaseRoute]:
    routes = [
        ("/auth/signup", sign_up, "POST"),
        ("/auth/signin", sign_in, "POST"),
        ("/auth/session/refresh", refresh, "POST"),
        ("/auth/signout", sign_out, "POST"),
        ("/auth/signout/everywhere", sign_out_everywhere, "POST"),
        ("/auth/sessions", list_sessions, "GET"),
        ("/auth/sessions/{session_id:uuid}", revoke_session, "DELETE"),
        ("/auth/jwks.json", jwks, "GET"),
        ("/auth/socket-ticket", socket_ticket, "POST"),
    ]
    return [
        Route(path, answering_errors(handler), methods=[method]) for path, handler, method in routes
    ]
