"""REST for social sign-in: start (where to send the browser) and callback (code, state)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fowergram.domain.auth.social import PENDING_TTL_S, SocialSignIn
from fowergram.domain.errors import NotFound
from fowergram.http.auth_routes import answering_errors, json_fields, services_of, session_response
from fowergram.http.auth_transport import client_info
from fowergram.http.responses import JSONResponse


def _social(request: Request) -> SocialSignIn:
    social = services_of(request).social
    if social is None:
        raise NotFound("social sign-in is not configured")
    return social


async def providers(request: Request) -> Response:
    social = services_of(request).social
    return JSONResponse({"providers": social.providers() if social else []})


FLOW_COOKIE = "fg_oauth_flow"
FLOW_PATH = "/auth/oauth"


async def start(request: Request) -> Response:
    redirect_uri = (await json_fields(request, "redirectUri"))["redirectUri"]
    started = await _social(request).begin(
        request.path_params["provider"], redirect_uri, client_info(request)
    )
    # Apps keep `flowSecret` and send it back; browsers get it as a cookie as well.
    response = JSONResponse(
        {"authorizationUrl": started.authorization_url, "flowSecret": started.flow_secret}
    )
    response.set_cookie(
        FLOW_COOKIE,
        started.flow_secret,
        max_age=PENDING_TTL_S,
        httponly=True,
        secure=bool(request.state.container.settings.is_production),
        samesite="lax",
        path=FLOW_PATH,
    )
    return response


async def callback(request: Request) -> Response:
    data = await json_fields(request, "code", "state")
    body = orjson.loads(await request.body())
    flow_secret = body.get("flowSecret") or request.cookies.get(FLOW_COOKIE)
    account, tokens = await _social(request).complete(
        request.path_params["provider"],
        code=data["code"],
        state=data["state"],
        flow_secret=flow_secret if isinstance(flow_secret, str) else None,
        client=client_info(request),
    )
    response = session_response(request, account, tokens)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


def social_routes() -> list[BaseRoute]:
    return [
        Route("/auth/oauth/providers", answering_errors(providers), methods=["GET"]),
        Route("/auth/oauth/{provider}/start", answering_errors(start), methods=["POST"]),
        Route("/auth/oauth/{provider}/callback", answering_errors(callback), methods=["POST"]),
    ]
