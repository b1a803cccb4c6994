"""Lossless resume: what a client missed, then what happens live, with no gap and no
duplicate (Zulip's event queue; STYLE.md 10).

The live feed must be registered before this starts: anything committed after the
catch-up read arrives on it, anything before is in the read, and what is in both is
sent once.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def pages_after(
    read_after: Callable[[int], Awaitable[list[T]]],
    after: int,
    id_of: Callable[[T], int],
    page: int,
) -> AsyncIterator[list[T]]:
    """The items with ids above `after`, a page at a time, until a short page."""
    cursor: int | None = after
    while cursor is not None:
        batch = await read_after(cursor)
        if batch:
            yield batch
        cursor = id_of(batch[-1]) if len(batch) >= page else None


async def resumed(
    live: AsyncIterable[T],
    read_after: Callable[[int], Awaitable[list[T]]],
    after: int | None,
    id_of: Callable[[T], int],
    page: int,
) -> AsyncIterator[T]:
    """Items with ids above `after` read in pages of `page` (none if `after` is None),
    then the live ones not already sent."""
    replayed: set[int] = set()
    if after is not None:
        async for batch in pages_after(read_after, after, id_of, page):
            for item in batch:
                replayed.add(id_of(item))
                yield item
    async for item in live:
        if id_of(item) not in replayed:
            yield item
