"""Normalising and validating what people type: emails, usernames, passwords."""

from __future__ import annotations

import re
import unicodedata

from fowergram.domain.errors import BadUserInput

USERNAME_MAX = 30
PASSWORD_MIN = 8
# Long enough for passphrases and managers; bounded because hashing cost grows with it.
PASSWORD_MAX = 256
EMAIL_MAX = 254

_USERNAME = re.compile(r"^[a-z0-9._]{1,30}$", re.ASCII)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_RESERVED_USERNAMES = frozenset(
    {"admin", "administrator", "root", "support", "help", "fowergram", "graphql", "api",
     "auth", "me", "settings", "explore", "static", "health", "metrics", "null", "undefined"}
)  # fmt: skip


def _has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in text)


def normalize_email(raw: str) -> str:
    """Trimmed, NFKC, lower-cased; rejected unless it looks like a deliverable address."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(email) > EMAIL_MAX or _has_control_chars(email) or not _EMAIL.fullmatch(email):
        raise BadUserInput("not a valid email address", field="email")
    return email


def normalize_username(raw: str) -> str:
    """NFKC (so fullwidth and compatibility forms fold to ASCII), lower-cased, like
    Instagram: letters, digits, '.' and '_', at most 30, no leading/trailing or double dot."""
    username = unicodedata.normalize("NFKC", raw).strip().lower()
    if not _USERNAME.fullmatch(username):
        raise BadUserInput(
            f"usernames use letters, digits, '.' and '_', 1 to {USERNAME_MAX} characters",
            field="username",
        )
    if username.startswith(".") or username.endswith(".") or ".." in username:
        raise BadUserInput("a username cannot start or end with '.' or repeat it", field="username")
    if username in _RESERVED_USERNAMES:
        raise BadUserInput("this username is reserved", field="username")
    return username


def normalize_identifier(raw: str) -> str:
    """What a sign-in form's "email or username" field means, before lookup."""
    return unicodedata.normalize("NFKC", raw).strip().lower()


def looks_like_email(identifier: str) -> bool:
    # After NFKC: a fullwidth at sign (U+FF20) typed at sign-up must work at sign-in too.
    return "@" in normalize_identifier(identifier)


def validate_password(password: str) -> str:
    """Length rules only (NIST 800-63B): no composition rules, any character allowed."""
    if len(password) < PASSWORD_MIN:
        raise BadUserInput(f"passwords need at least {PASSWORD_MIN} characters", field="password")
    if len(password) > PASSWORD_MAX:
        raise BadUserInput(f"passwords have at most {PASSWORD_MAX} characters", field="password")
    if not password.strip():
        raise BadUserInput("a password cannot be only spaces", field="password")
    if any(unicodedata.category(ch) == "Cs" for ch in password):
        # Lone surrogates cannot be encoded: such a password could never be typed again.
        raise BadUserInput("the password is not valid text", field="password")
    return password
