"""REST for the TOTP second factor: enrol, confirm, disable, and the sign-in's second step."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fowergram.domain.errors import BadUserInput
from fowergram.http.auth_routes import (
    answering_errors,
    json_fields,
    services_of,
    session_response,
    signed_in,
)
from fowergram.http.auth_transport import client_info
from fowergram.http.responses import JSONResponse


async def _factor(request: Request) -> tuple[dict[str, Any], str | None, str | None]:
    """The body, and the factor it carries: `code` or `recoveryCode` (strings)."""
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadUserInput("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadUserInput("the body must be a JSON object")
    code, recovery_code = data.get("code"), data.get("recoveryCode")
    for name, value in (("code", code), ("recoveryCode", recovery_code)):
        if value is not None and not isinstance(value, str):
            raise BadUserInput(f"{name} must be a string", field=name)
    return data, code, recovery_code


async def enroll(request: Request) -> Response:
    authenticated = await signed_in(request)
    setup = await services_of(request).mfa.enroll(authenticated.viewer)
    return JSONResponse({"secret": setup.secret, "otpauthUri": setup.otpauth_uri})


async def confirm(request: Request) -> Response:
    authenticated = await signed_in(request)
    code = (await json_fields(request, "code"))["code"]
    codes = await services_of(request).mfa.confirm(authenticated.viewer, code)
    return JSONResponse({"enabled": True, "recoveryCodes": codes})


async def disable(request: Request) -> Response:
    authenticated = await signed_in(request)
    _, code, recovery_code = await _factor(request)
    await services_of(request).mfa.disable(
        authenticated.viewer, code=code, recovery_code=recovery_code
    )
    return JSONResponse({"enabled": False})


async def sign_in_second_step(request: Request) -> Response:
    data, code, recovery_code = await _factor(request)
    mfa_token = data.get("mfaToken")
    if not isinstance(mfa_token, str):
        raise BadUserInput("mfaToken is required and must be a string", field="mfaToken")
    account, tokens = await services_of(request).auth.complete_sign_in(
        mfa_token=mfa_token, code=code, recovery_code=recovery_code, client=client_info(request)
    )
    return session_response(request, account, tokens)


def mfa_routes() -> list[BaseRoute]:
    routes = [
        ("/auth/mfa/totp/enroll", enroll),
        ("/auth/mfa/totp/confirm", confirm),
        ("/auth/mfa/totp/disable", disable),
        ("/auth/signin/mfa", sign_in_second_step),
    ]
    return [Route(path, answering_errors(handler), methods=["POST"]) for path, handler in routes]
