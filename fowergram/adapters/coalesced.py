"""Calls made while a batch is being answered, answered together by the next one.

A reconnect storm sends hundreds of sockets through the same Redis look-ups at once;
each `await redis.exists(...)` costs a command's packing, a health check, a timeout
context and a `send()` (~60-80 µs of redis-py per command on this machine). Gathered,
they become one command (MGET) or one pipeline. One batch is in flight at a time: the
calls of one turn of the loop go at its end, and those made while a batch is out wait
for it and go together, so the batches grow with the load (a busy loop's turn is long)
and a caller alone waits one extra turn, nothing more. `max_batch` caps a batch; a full
one goes at once, in flight or not.

Like a DataLoader without its cache (strawberry's binds itself to the first event loop
it meets; adapters here outlive a loop in tests and CLI commands).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_MAX_BATCH = 500


class Coalesced(Generic[K, V]):
    """`await coalesced(key)`: `fetch` is called with every key asked for in this turn of
    the loop (in order, repeats included) and must return one value per key. A value
    that is an exception is raised to its own caller only (one command of a pipeline
    failed); an exception raised by `fetch` reaches every caller of the batch."""

    def __init__(
        self,
        fetch: Callable[[list[K]], Awaitable[Sequence[V | Exception]]],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._fetch = fetch
        self._max_batch = max_batch
        self._keys: list[K] = []
        self._waiters: list[asyncio.Future[V]] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the batches' loop
        self._running: set[asyncio.Task[None]] = set()  # held: the loop keeps weak refs

    async def __call__(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[V] = loop.create_future()
        if self._loop is not loop:
            # Batches left by a loop that stopped: their callers are gone with their
            # loop, and no batch of it will end to send what waits. Start afresh.
            self._keys, self._waiters, self._running = [], [], set()
            self._loop = loop
        if not self._keys and not self._running:
            loop.call_soon(self._dispatch)
        self._keys.append(key)
        self._waiters.append(waiter)
        if len(self._keys) >= self._max_batch:
            self._dispatch()
        return await waiter

    def _dispatch(self) -> None:
        keys, waiters = self._keys, self._waiters
        if not keys:  # already sent by max_batch; this is its scheduled call
            return
        self._keys, self._waiters = [], []
        task = asyncio.ensure_future(self._answer(keys, waiters))
        self._running.add(task)
        task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not self._running and self._keys and task.get_loop() is self._loop:
            self._dispatch()  # what asked while it was out

    async def _answer(self, keys: list[K], waiters: list[asyncio.Future[V]]) -> None:
        if all(waiter.done() for waiter in waiters):  # every caller was cancelled
            return
        try:
            values = await self._fetch(keys)
            if len(values) != len(keys):
                raise RuntimeError(f"{len(values)} values for {len(keys)} keys")
        except Exception as error:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        except asyncio.CancelledError:
            for waiter in waiters:
                waiter.cancel()
            raise
        for waiter, value in zip(waiters, values, strict=True):
            if waiter.done():
                continue
            if isinstance(value, Exception):
                waiter.set_exception(value)
            else:
                waiter.set_result(value)
