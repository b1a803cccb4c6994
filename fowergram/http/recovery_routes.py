"""REST for mailed links: email verification and password reset."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fowergram.http.auth_routes import answering_errors, json_fields, services_of, signed_in
from fowergram.http.auth_transport import client_info
from fowergram.http.responses import JSONResponse


async def request_verification(request: Request) -> Response:
    authenticated = await signed_in(request)
    sent = await services_of(request).recovery.request_verification(authenticated.viewer)
    return JSONResponse({"sent": sent})


async def verify_email(request: Request) -> Response:
    token = (await json_fields(request, "token"))["token"]
    await services_of(request).recovery.verify_email(token)
    return JSONResponse({"verified": True})


async def request_password_reset(request: Request) -> Response:
    email = (await json_fields(request, "email"))["email"]
    await services_of(request).recovery.request_password_reset(email, client_info(request))
    # The same 202 whether or not the address has an account.
    return JSONResponse({"requested": True}, status_code=202)


async def reset_password(request: Request) -> Response:
    data = await json_fields(request, "token", "newPassword")
    await services_of(request).recovery.reset_password(data["token"], data["newPassword"])
    return JSONResponse({"reset": True})


def recovery_routes() -> list[BaseRoute]:
    routes = [
        ("/auth/email/verify/request", request_verification),
        ("/auth/email/verify", verify_email),
        ("/auth/password/reset/request", request_password_reset),
        ("/auth/password/reset", reset_password),
    ]
    return [Route(path, answering_errors(handler), methods=["POST"]) for path, handler in routes]
