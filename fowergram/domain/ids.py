"""Ids as clients send them (GraphQL `ID`, strings) to the integers we store."""

from __future__ import annotations

from fowergram.domain.errors import BadUserInput

_MAX_BIGINT = 2**63 - 1


def parse_id(value: object, *, field: str) -> int:
    """A positive 64-bit id; anything else is BAD_USER_INPUT on `field` (never a 500)."""
    text = str(value).strip()
    if (
        not text.isascii()
        or not text.isdigit()
        or len(text) > 19
        or not 0 < int(text) <= _MAX_BIGINT
    ):
        raise BadUserInput("not a valid id", field=field)
    return int(text)
