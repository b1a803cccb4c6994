"""Domain errors as HTTP answers: status, JSON body with the stable code, Retry-After."""

from __future__ import annotations

from starlette.responses import Response

from fowergram.domain.errors import DomainError, ErrorCode, RateLimited
from fowergram.http.responses import JSONResponse

STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.CONFLICT: 409,
}


def error_response(error: DomainError) -> Response:
    extensions: dict[str, object] = {"code": error.code.value}
    if error.field is not None:
        extensions["field"] = error.field
    headers = {}
    if isinstance(error, RateLimited):
        extensions["retryAfter"] = error.retry_after_s
        headers["retry-after"] = str(error.retry_after_s)
    return JSONResponse(
        {"errors": [{"message": error.message, "extensions": extensions}]},
        status_code=STATUS[error.code],
        headers=headers,
    )
