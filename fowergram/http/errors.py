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
    ErrorCode.MFA_REQUIRED: 401,
}


def error_response(error: DomainError) -> Response:
    headers = {}
    if isinstance(error, RateLimited):
        headers["retry-after"] = str(error.retry_after_s)
    return JSONResponse(
        {"errors": [{"message": error.message, "extensions": error.extensions()}]},
        status_code=STATUS[error.code],
        headers=headers,
    )
