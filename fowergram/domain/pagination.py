"""Keyset pagination with opaque cursors (Relay connections): no OFFSET, stable under
concurrent inserts because a cursor names a position in a total order, not a count."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from fowergram.domain.errors import BadUserInput

DEFAULT_FIRST = 20
MAX_FIRST = 100
_PREFIX = b"fg1:"
_URLSAFE = bytes.maketrans(b"+/", b"-_")

T = TypeVar("T")
Key = tuple[int, ...]  # the sort key of a row, e.g. (id,) or (created_at_us, id)


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_FIRST
    if not 1 <= first <= MAX_FIRST:
        raise BadUserInput(f"first must be between 1 and {MAX_FIRST}", field="first")
    return first


def encode_cursor(key: Key) -> str:
    # base64.urlsafe_b64encode's steps without its two Python-level calls (a page encodes
    # one cursor per edge).
    raw = binascii.b2a_base64(_PREFIX + orjson.dumps(key), newline=False)
    return raw.translate(_URLSAFE).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, *, arity: int = 1) -> Key | None:
    """The key a client's cursor names; BAD_USER_INPUT (field `after`) if it is not ours."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if not raw.startswith(_PREFIX) or len(cursor) > 200:
            raise ValueError
        values = orjson.loads(raw[len(_PREFIX) :])
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise BadUserInput("invalid cursor", field="after") from None
    if (
        not isinstance(values, list)
        or len(values) != arity
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    ):
        raise BadUserInput("invalid cursor", field="after")
    return tuple(values)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Rows of one page and whether more follow. Repositories fetch `size + 1` rows."""

    items: Sequence[T]
    keys: Sequence[Key]
    has_next: bool
    last_key: Key | None = None  # where the next page starts, even if items were dropped

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Key, T]], size: int) -> Page[T]:
        shown = rows[:size]
        return cls(
            [item for _, item in shown],
            [key for key, _ in shown],
            len(rows) > size,
            shown[-1][0] if shown else None,
        )

    def keep(self, wanted: Callable[[T], bool]) -> Page[T]:
        """The page without the items `wanted` refuses; the cursor still moves past them."""
        kept = [
            (key, item) for key, item in zip(self.keys, self.items, strict=True) if wanted(item)
        ]
        return Page(
            [item for _, item in kept], [key for key, _ in kept], self.has_next, self.last_key
        )

    @property
    def end_cursor(self) -> str | None:
        key = self.last_key or (self.keys[-1] if self.keys else None)
        return encode_cursor(key) if key is not None else None
