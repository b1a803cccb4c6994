"""The relay's wake-ups: LISTEN for committed outbox rows, asked for only while asleep.

Writers' trigger notifies only while some relay has its listening connection's pid in
`outbox_sleepers` (migration 0019): a notification per write made every writing
transaction commit one after the other (NOTIFY's database-wide lock is held until the
commit is flushed). An awake relay looks for rows itself.
"""

from __future__ import annotations

from collections.abc import Callable

from fowergram.adapters.postgres.listener import PostgresListener
from fowergram.adapters.postgres.outbox_queue import OUTBOX_CHANNEL

# Rows of backends that are gone (a relay killed while asleep) go first: they would only
# make writers notify for nothing.
_ASLEEP = """
DELETE FROM outbox_sleepers s WHERE s.pid <> pg_backend_pid()
    AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = s.pid);
INSERT INTO outbox_sleepers (pid) VALUES (pg_backend_pid()) ON CONFLICT (pid) DO NOTHING
"""
_AWAKE = "DELETE FROM outbox_sleepers WHERE pid = pg_backend_pid()"


class OutboxWakeups:
    def __init__(self, database_url: str, *, retry_s: float = 1.0) -> None:
        self._listener = PostgresListener(database_url, OUTBOX_CHANNEL, retry_s=retry_s)

    async def run(self, wake: Callable[[], None]) -> None:
        await self._listener.run(wake)

    async def asleep(self, asleep: bool) -> bool:
        """Ask writers to notify (True) or not (False); False when not listening."""
        return await self._listener.execute_while_listening(_ASLEEP if asleep else _AWAKE)
