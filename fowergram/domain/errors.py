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
    MFA_REQUIRED = "MFA_REQUIRED"


class DomainError(Exception):
    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def extensions(self) -> dict[str, object]:
        """What a client sees besides the message (GraphQL `extensions`, REST body)."""
        extensions: dict[str, object] = {"code": self.code.value}
        if self.field is not None:
            extensions["field"] = self.field
        return extensions


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

    def extensions(self) -> dict[str, object]:
        return super().extensions() | {"retryAfter": self.retry_after_s}


class MfaRequired(DomainError):
    """The password was right; a second factor must follow, quoting `mfa_token`."""

    def __init__(self, mfa_token: str) -> None:
        super().__init__(ErrorCode.MFA_REQUIRED, "a second factor is required")
        self.mfa_token = mfa_token

    def extensions(self) -> dict[str, object]:
        return super().extensions() | {"mfaToken": self.mfa_token}
