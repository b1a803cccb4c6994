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
