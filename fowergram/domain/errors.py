"""Expected failures, each with a stable code that clients can branch on."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    RATE_LIMITED = "RATE_LIMITED"
    CONFLICT = "CONFLICT"


class DomainError(Exception):
    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class BadUserInput(DomainError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(ErrorCode.BAD_USER_INPUT, message, field=field)


class Unauthenticated(DomainError):
    def __init__(self, message: str = "authentication required") -> None:
        super().__init__(ErrorCode.UNAUTHENTICATED, message)


class Forbidden(DomainError):
    def __init__(self, message: str = "not allowed") -> None:
        super().__init__(ErrorCode.FORBIDDEN, message)


class NotFound(DomainError):
    def __init__(self, message: str = "not found") -> None:
        super().__init__(ErrorCode.NOT_FOUND, message)


class Conflict(DomainError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(ErrorCode.CONFLICT, message, field=field)


class RateLimited(DomainError):
    def __init__(self, retry_after_s: int, message: str = "too many attempts") -> None:
        super().__init__(ErrorCode.RATE_LIMITED, f"{message}; retry in {retry_after_s}s")
        self.retry_after_s = retry_after_s
