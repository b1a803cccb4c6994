"""Sockets' `connection_init` answered together: those waiting when a batch starts, in one pass.

A reconnect storm brings hundreds of `connection_init` messages at once. Answered one
task each, every socket paid for a task, and for a revocation look-up, its user's channel
and a presence change each awaited on its own (a future and a wake-up apiece, the Redis
commands batched only with whatever else happened to wait). Here one task answers a
batch: the tokens verified in a loop, the sessions checked against revocations in one
MGET, the users' channels joined together (one NATS confirmation), the sockets held for
presence in one script, then each acknowledged. One batch is out at a time; the inits
arriving meanwhile form the next (as `adapters.coalesced` does), so batches grow with
the load and a lone socket waits no longer than before.

A revocation that lands between the check and the channel's subscription reaches neither;
each operation checks the session again when it starts (`AuthProvider.ensure_live`), as
it always did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from fowergram.domain.auth.provider import AuthProvider
from fowergram.domain.auth.service import Authenticated
from fowergram.observability.metrics import Metrics
from fowergram.realtime.connection import Connection
from fowergram.realtime.hub import ConnectionHub
from fowergram.realtime.protocol import MAX_CLOSE_REASON, Close
from fowergram.realtime.socket_auth import SocketRejected, TicketRedeemer, socket_credentials

log = logging.getLogger(__name__)
MAX_BATCH = 500
UNAVAILABLE = "authentication unavailable, retry later"


class Admissions:
    """Answers `connection_init`s in batches; `admitted` is called for each socket that
    is in (acknowledge it, answer what it sent meanwhile)."""

    def __init__(
        self,
        auth: AuthProvider,
        tickets: TicketRedeemer,
        hub: ConnectionHub,
        metrics: Metrics,
        admitted: Callable[[Connection], None],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._auth = auth
        self._tickets = tickets
        self._hub = hub
        self._metrics = metrics
        self._admitted = admitted
        self._max_batch = max_batch
        self._waiting: list[tuple[Connection, dict[str, Any]]] = []
        self._running: asyncio.Task[None] | None = None

    def add(self, connection: Connection, payload: dict[str, Any]) -> None:
        """Answer this socket's `connection_init` with the next batch."""
        self._waiting.append((connection, payload))
        if self._running is None and len(self._waiting) == 1:
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        if self._running is not None or not self._waiting:
            return
        batch = self._waiting[: self._max_batch]
        del self._waiting[: self._max_batch]
        task = asyncio.create_task(self._admit(batch))
        for connection, _ in batch:
            connection.admission = task  # the socket's end waits for it (Connection.finish)
        self._running = task
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running = None
        if self._waiting:
            self._start()

    async def _admit(self, batch: list[tuple[Connection, dict[str, Any]]]) -> None:
        try:
            verified = await self._verified(batch)
            joined = await self._on_channels(await self._unrevoked(verified))
            await self._hub.went_online(joined)
            for connection in joined:
                if connection.closing is None:
                    self._admitted(connection)
        except Exception:
            # A dependency is down (Redis, where revocations live): not the clients'
            # fault; 1011 tells them to retry later rather than to sign in again.
            log.exception("socket admission failed")
            _unanswered_close(batch)
        except asyncio.CancelledError:
            _unanswered_close(batch)
            raise
        finally:
            for connection, _ in batch:
                connection.admission = None

    async def _verified(self, batch: list[tuple[Connection, dict[str, Any]]]) -> list[Connection]:
        """Each socket's credentials, by signature and times; anonymous ones are in."""
        verified: list[Connection] = []
        for connection, payload in batch:
            if connection.closing is not None:
                continue
            try:
                authenticated = await socket_credentials(payload, self._auth, self._tickets)
            except SocketRejected as rejected:
                self._refuse(connection, str(rejected))
                continue
            except Exception:  # a ticket's Redis down: as below, for this socket alone
                log.exception("socket authentication failed")
                connection.close(Close.INTERNAL, UNAVAILABLE)
                continue
            if connection.closing is not None:
                continue
            self._identify(connection, authenticated)
            if authenticated is None:
                self._admitted(connection)  # public reads only: nothing to join or check
            else:
                verified.append(connection)
        return verified

    async def _on_channels(self, connections: list[Connection]) -> list[Connection]:
        """The sockets whose users' channels are live (revocations reach them from now)."""
        if not connections:
            return []
        outcomes = await self._hub.join_users(connections)
        joined: list[Connection] = []
        for connection, error in zip(connections, outcomes, strict=True):
            if error is not None:
                log.error("joining the user's channel failed", exc_info=error)
                connection.close(Close.INTERNAL, "live channel unavailable, retry later")
            elif connection.closing is None:
                joined.append(connection)
        return joined

    async def _unrevoked(self, connections: list[Connection]) -> list[Connection]:
        if not connections:
            return []
        sessions = [c.auth for c in connections if c.auth is not None]
        assert len(sessions) == len(connections)
        revoked = await self._auth.revoked_among(sessions)
        unrevoked: list[Connection] = []
        for connection, is_revoked in zip(connections, revoked, strict=True):
            if connection.closing is not None:
                continue
            if is_revoked:
                self._refuse(connection, "session revoked")
            else:
                unrevoked.append(connection)
        return unrevoked

    @staticmethod
    def _identify(connection: Connection, authenticated: Authenticated | None) -> None:
        connection.auth = authenticated
        connection.viewer = authenticated.viewer if authenticated else None
        # From here the hub's removal of the socket undoes its joins (ConnectionHub.remove).
        connection.acked = True

    def _refuse(self, connection: Connection, reason: str) -> None:
        self._metrics.ws_refused.labels("credentials").inc()
        connection.close(Close.FORBIDDEN, f"Forbidden: {reason}"[:MAX_CLOSE_REASON])


def _unanswered_close(batch: list[tuple[Connection, dict[str, Any]]]) -> None:
    for connection, _ in batch:
        if connection.pending is not None:  # neither answered nor closed yet
            connection.close(Close.INTERNAL, UNAVAILABLE)
