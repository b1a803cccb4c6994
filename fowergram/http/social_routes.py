"""REST for social sign-in: start (where to send the browser) and callback (code, state)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fowergram.domain.auth.social import SocialSignIn
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


async def start(request: Request) -> Response:
    redirect_uri = (await json_fields(request, "redirectUri"))["redirectUri"]
    url = await _social(request).begin(request.path_params["provider"], redirect_uri)
    return JSONResponse({"authorizationUrl": url})


async def callback(request: Request) -> Response:
    data = await json_fields(request, "code", "state")
    account, tokens = await _social(request).complete(
        request.path_params["provider"],
        code=data["code"],
        state=data["state"],
        client=client_info(request),
    )
    return session_response(request, account, tokens)


def social_routes() -> list[BaseRoute]:
    return [
        Route("/auth/oauth/providers", answering_errors(providers), methods=["GET"]),
        Route("/auth/oauth/{provider}/start", answering_errors(start), methods=["POST"]),
        Route("/auth/oauth/{provider}/callback", answering_errors(callback), methods=["POST"]),
    ]
