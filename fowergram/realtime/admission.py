"""Sockets' `connection_init` answered together: those waiting when a batch starts, in one pass.

A reconnect storm brings hundreds of `connection_init` messages at once. Answered one
task each, every socket paid for a task, and for a revocation look-up, its user's channel
and a presence change each awaited on its own (a future and a wake-up apiece, the Redis
commands batched only with whatever else happened to wait). Here one task answers a
batch: the tokens verified in a loop, the users' channels joined together (one NATS
confirmation), the sessions checked against revocations in one MGET, the sockets held
for presence in one script, then each acknowledged. One batch is out at a time; the inits
arriving meanwhile form the next (as `adapters.coalesced` does), so batches grow with
the load and a lone socket waits no longer than before.

The channels are live before the look-up: a revocation is written to Redis before it is
announced, so one the look-up misses reaches the socket on its channel. An operation
begun right after admission may rely on that look-up (`Connection.session_checked_at`);
later ones check the session again when they start (`AuthProvider.ensure_live`), in
case an announcement was lost (core NATS delivers at most once).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from fowergram.domain.auth.service import Authenticated
from fowergram.observability.metrics import Metrics
from fowergram.realtime.connection import Connection
from fowergram.realtime.protocol import MAX_CLOSE_REASON, Close
from fowergram.realtime.socket_auth import (
    SocketAuth,
    SocketRejected,
    Ticket,
    TicketRedeemer,
    offered,
    redeemed,
    token_credentials,
)

log = logging.getLogger(__name__)
MAX_BATCH = 500
UNAVAILABLE = "authentication unavailable, retry later"


class AdmittingHub(Protocol):
    """The hub as admission uses it (`ConnectionHub`)."""

    async def join_users(self, connections: Sequence[Connection]) -> list[BaseException | None]: ...

    async def went_online(self, connections: Sequence[Connection]) -> None: ...


@dataclass(slots=True)
class Applicant:
    """A socket waiting for its `connection_init` to be answered."""

    connection: Connection
    payload: dict[str, Any]
    # The socket's log context (its connection id), for what is done for it alone.
    context: contextvars.Context


class Admissions:
    """Answers `connection_init`s in batches; `admitted` is called for each socket that
    is in (acknowledge it, answer what it sent meanwhile)."""

    def __init__(
        self,
        auth: SocketAuth,
        tickets: TicketRedeemer,
        hub: AdmittingHub,
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
        self._waiting: list[Applicant] = []
        self._running: asyncio.Task[None] | None = None

    def add(self, connection: Connection, payload: dict[str, Any]) -> None:
        """Answer this socket's `connection_init` with the next batch (called in the
        socket's own context)."""
        self._waiting.append(Applicant(connection, payload, contextvars.copy_context()))
        if self._running is None and len(self._waiting) == 1:
            asyncio.get_running_loop().call_soon(self._start, context=contextvars.Context())

    def _start(self) -> None:
        if self._running is not None or not self._waiting:
            return
        batch = self._waiting[: self._max_batch]
        del self._waiting[: self._max_batch]
        # A context of its own: no socket's connection id on the batch's log lines.
        task = asyncio.create_task(self._admit(batch), context=contextvars.Context())
        for applicant in batch:
            # The socket's end waits for it (Connection.finish).
            applicant.connection.admission = task
        self._running = task
        task.add_done_callback(partial(self._finished, batch))

    def _finished(self, batch: list[Applicant], task: asyncio.Task[None]) -> None:
        self._running = None
        if task.cancelled():  # possibly before its first step (the loop stopping)
            _unanswered_close(batch)
        for applicant in batch:
            applicant.connection.admission = None
        if self._waiting:
            self._start()

    async def _admit(self, batch: list[Applicant]) -> None:
        try:
            verified = await self._verified(batch)
            admitted = await self._unrevoked(await self._on_channels(verified))
            await self._hub.went_online([applicant.connection for applicant in admitted])
            for applicant in admitted:
                if applicant.connection.closing is None:
                    self._answer(applicant)
        except Exception:
            # A dependency is down (Redis, where revocations live): not the clients'
            # fault; 1011 tells them to retry later rather than to sign in again.
            log.exception("socket admission failed")
            _unanswered_close(batch)

    async def _verified(self, batch: list[Applicant]) -> list[tuple[Applicant, Authenticated]]:
        """Each socket's credentials, by signature and times; anonymous ones are in."""
        tokens = await self._tokens(batch)
        verified: list[tuple[Applicant, Authenticated]] = []
        for applicant, token in tokens:
            connection = applicant.connection
            if connection.closing is not None:
                continue
            authenticated: Authenticated | None = None
            if token is not None:
                try:
                    authenticated = await token_credentials(token, self._auth)
                except SocketRejected as rejected:
                    self._refuse(connection, str(rejected))
                    continue
            self._identify(connection, authenticated)
            if authenticated is None:
                self._answer(applicant)  # public reads only: nothing to join or check
            else:
                verified.append((applicant, authenticated))
        return verified

    async def _tokens(self, batch: list[Applicant]) -> list[tuple[Applicant, str | None]]:
        """Each socket's access token (None: anonymous); tickets redeemed together."""
        offers: list[tuple[Applicant, str | Ticket | None]] = []
        for applicant in batch:
            if applicant.connection.closing is not None:
                continue
            try:
                offers.append((applicant, offered(applicant.payload)))
            except SocketRejected as rejected:
                self._refuse(applicant.connection, str(rejected))
        tickets = [offer for _, offer in offers if isinstance(offer, Ticket)]
        # Rare (browsers in cookie mode), each a Redis round trip: all at once.
        redemptions = iter(
            await asyncio.gather(
                *(redeemed(ticket, self._tickets) for ticket in tickets), return_exceptions=True
            )
            if tickets
            else ()
        )
        answered: list[tuple[Applicant, str | None]] = []
        for applicant, offer in offers:
            outcome = next(redemptions) if isinstance(offer, Ticket) else offer
            if isinstance(outcome, SocketRejected):
                self._refuse(applicant.connection, str(outcome))
            elif isinstance(outcome, BaseException):  # a ticket's Redis down
                applicant.context.run(
                    log.error, "socket ticket redemption failed", exc_info=outcome
                )
                applicant.connection.close(Close.INTERNAL, UNAVAILABLE)
            else:
                answered.append((applicant, outcome))
        return answered

    async def _on_channels(
        self, verified: list[tuple[Applicant, Authenticated]]
    ) -> list[tuple[Applicant, Authenticated]]:
        """The sockets whose users' channels are live (revocations reach them from now)."""
        if not verified:
            return []
        outcomes = await self._hub.join_users([applicant.connection for applicant, _ in verified])
        joined: list[tuple[Applicant, Authenticated]] = []
        for (applicant, authenticated), error in zip(verified, outcomes, strict=True):
            connection = applicant.connection
            if error is not None:
                applicant.context.run(
                    log.error, "joining the user's channel failed", exc_info=error
                )
                connection.close(Close.INTERNAL, "live channel unavailable, retry later")
            elif connection.closing is None:
                joined.append((applicant, authenticated))
        return joined

    async def _unrevoked(self, joined: list[tuple[Applicant, Authenticated]]) -> list[Applicant]:
        """The sockets whose sessions are not revoked, checked with their channels live."""
        if not joined:
            return []
        revoked = await self._auth.revoked_among([auth for _, auth in joined])
        checked_at = asyncio.get_running_loop().time()
        unrevoked: list[Applicant] = []
        for (applicant, _), is_revoked in zip(joined, revoked, strict=True):
            connection = applicant.connection
            if connection.closing is not None:  # e.g. a revocation on its channel meanwhile
                continue
            if is_revoked:
                self._refuse(connection, "session revoked")
            else:
                connection.session_checked_at = checked_at
                unrevoked.append(applicant)
        return unrevoked

    def _answer(self, applicant: Applicant) -> None:
        """Acknowledge one socket, in its own context; a failure closes that one alone."""
        try:
            applicant.context.run(self._admitted, applicant.connection)
        except Exception:
            applicant.context.run(log.exception, "answering connection_init failed")
            applicant.connection.close(Close.INTERNAL, "internal error")

    @staticmethod
    def _identify(connection: Connection, authenticated: Authenticated | None) -> None:
        connection.auth = authenticated
        connection.viewer = authenticated.viewer if authenticated else None
        # From here the hub's removal of the socket undoes its joins (ConnectionHub.remove).
        connection.acked = True

    def _refuse(self, connection: Connection, reason: str) -> None:
        self._metrics.ws_refused.labels("credentials").inc()
        connection.close(Close.FORBIDDEN, f"Forbidden: {reason}"[:MAX_CLOSE_REASON])


def _unanswered_close(batch: list[Applicant]) -> None:
    for applicant in batch:
        if applicant.connection.pending is not None:  # neither answered nor closed yet
            applicant.connection.close(Close.INTERNAL, UNAVAILABLE)
