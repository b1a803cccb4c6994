"""Lossless resume (no I/O): replay, then live, no gap, no duplicate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fowergram.realtime.resume import resumed


class Live:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[int | None] = asyncio.Queue()

    def publish(self, item: int | None) -> None:
        self.queue.put_nowait(item)

    async def __aiter__(self) -> AsyncIterator[int]:
        while (item := await self.queue.get()) is not None:
            yield item


async def _collect(stream: AsyncIterator[int]) -> list[int]:
    return [item async for item in stream]


async def test_events_arriving_during_the_replay_are_sent_once_after_it() -> None:
    stored = [3, 5, 8, 9]
    live = Live()
    reads: list[int] = []

    async def read_after(cursor: int) -> list[int]:
        reads.append(cursor)
        # While the replay reads: 9 (committed before the read, so in it) is published
        # too, and 10 commits after the read: only the live feed has it.
        live.publish(9)
        live.publish(10)
        live.publish(None)
        return [n for n in stored if n > cursor][:10]

    got = await _collect(resumed(live, read_after, 4, lambda n: n, page=10))
    assert got == [5, 8, 9, 10]
    assert reads == [4]


async def test_a_long_gap_is_read_in_pages() -> None:
    stored = list(range(1, 8))
    live = Live()
    live.publish(7)
    live.publish(8)
    live.publish(None)
    reads: list[int] = []

    async def read_after(cursor: int) -> list[int]:
        reads.append(cursor)
        return [n for n in stored if n > cursor][:3]

    got = await _collect(resumed(live, read_after, 0, lambda n: n, page=3))
    assert got == [1, 2, 3, 4, 5, 6, 7, 8]
    assert reads == [0, 3, 6]


async def test_without_a_resume_point_only_live_events_are_sent() -> None:
    live = Live()
    for item in (4, 6, None):
        live.publish(item)

    async def read_after(cursor: int) -> list[int]:
        raise AssertionError("nothing to replay")

    assert await _collect(resumed(live, read_after, None, lambda n: n, page=10)) == [4, 6]


async def test_a_live_event_older_than_the_resume_point_but_never_sent_still_goes() -> None:
    # Ids are taken at insert time: a lower id can commit (and be published) later.
    live = Live()
    for item in (2, 12, None):
        live.publish(item)

    async def read_after(cursor: int) -> list[int]:
        return [11]

    assert await _collect(resumed(live, read_after, 10, lambda n: n, page=10)) == [11, 2, 12]
