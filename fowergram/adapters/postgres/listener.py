"""LISTEN on a dedicated connection (never a pooled one), reconnecting when it drops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

RETRY_S = 1.0
CHECK_S = 30.0  # a liveness query this often finds a connection that died silently
_LOST = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class PostgresListener:
    """Calls `wake` on every notification on `channel`, and after every (re)connection,
    since notifications sent while not listening are lost: the caller re-reads its table."""

    def __init__(
        self, url: str, channel: str, *, retry_s: float = RETRY_S, check_s: float = CHECK_S
    ) -> None:
        self._url = url
        self._channel = channel
        self._retry_s = retry_s
        self._check_s = check_s
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the connection

    async def execute_while_listening(self, sql: str) -> bool:
        """Run `sql` on the listening connection (its session is the listener's); False
        when not connected (the next connection wakes the caller anyway)."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        async with self._lock:
            await conn.execute(sql, timeout=5)
        return True

    async def run(self, wake: Callable[[], None]) -> None:
        """Listen until cancelled."""
        failures = 0
        while True:
            try:
                conn = await asyncpg.connect(
                    self._url,
                    timeout=5,
                    server_settings={"application_name": f"listen:{self._channel}"},
                )
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                failures += 1
                if failures == 1:  # once per outage, not on every attempt
                    log.warning("listener cannot connect", extra=self._about(exc))
                await asyncio.sleep(self._retry_s)
                continue
            failures = 0
            try:
                await self._listen(conn, wake)
            except _LOST as exc:
                log.warning("listener connection lost; reconnecting", extra=self._about(exc))
            finally:
                if not conn.is_closed():
                    conn.terminate()

    async def _listen(self, conn: asyncpg.Connection, wake: Callable[[], None]) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(self._channel, lambda *_: wake())
        log.info("listening", extra={"channel": self._channel})
        self._conn = conn
        try:
            wake()
            while not conn.is_closed():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._check_s)
                if not conn.is_closed():
                    async with self._lock:
                        await conn.fetchval("SELECT 1", timeout=5)
        finally:
            self._conn = None
        raise ConnectionResetError("connection closed")

    def _about(self, exc: BaseException) -> dict[str, str]:
        return {"channel": self._channel, "error": repr(exc)}
