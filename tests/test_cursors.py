"""Opaque cursors: what encode_cursor writes, decode_cursor reads back, and nothing else."""

from __future__ import annotations

import base64

import orjson
import pytest

from fowergram.domain.errors import BadUserInput
from fowergram.domain.pagination import decode_cursor, encode_cursor

KEYS = [(1,), (0,), (-5,), (2**62,), (1_764_000_000_123_456, 42), (7, 8, 9)]


@pytest.mark.parametrize("key", KEYS)
def test_a_cursor_is_urlsafe_base64_without_padding_and_reads_back(key: tuple[int, ...]) -> None:
    cursor = encode_cursor(key)
    expected = base64.urlsafe_b64encode(b"fg1:" + orjson.dumps(list(key))).decode().rstrip("=")
    assert cursor == expected
    assert not set(cursor) & set("=+/")
    assert decode_cursor(cursor, arity=len(key)) == key


@pytest.mark.parametrize("cursor", ["", "fg1", "%%%", encode_cursor((1,))[:-2], "ZmcxOlsiYSJd"])
def test_anything_else_is_bad_user_input(cursor: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        decode_cursor(cursor)
    assert caught.value.field == "after"
