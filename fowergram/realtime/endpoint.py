"""The WebSocket endpoint at /graphql: handshake checks, `connection_init`, each message.

Our own protocol handler rather than Strawberry's: the hub needs bounded outboxes,
per-user channels, revocation, keep-alive and draining around each socket, and the
few objects per socket that a large number of idle sockets can afford. It is called by
the transport (`ws_transport.HubProtocol`) for each event, with no task per socket:
only connection_init (authentication) and each operation run as tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from fowergram.domain.auth.service import Authenticated
from fowergram.domain.errors import DomainError
from fowergram.graphql.context import Context
from fowergram.observability.metrics import Metrics
from fowergram.realtime.admission import Admissions
from fowergram.realtime.connection import Connection, OutboundLimits, Wire
from fowergram.realtime.hub import ConnectionHub
from fowergram.realtime.multiplex import Multiplexer, SharedStream, SharePlan
from fowergram.realtime.operations import run_operation
from fowergram.realtime.origins import origin_allowed
from fowergram.realtime.protocol import (
    DIALECTS,
    MAX_CLOSE_REASON,
    SUPPORTED,
    TRANSPORT_WS,
    Close,
    Complete,
    Init,
    Ping,
    ProtocolViolation,
    Subscribe,
    Terminate,
    parse_message,
)
from fowergram.realtime.pushed import Push, PushedOperation

if TYPE_CHECKING:
    from fowergram.container import Container

log = logging.getLogger(__name__)
INTERNAL_ERROR = {"message": "internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
# Messages a client may send after connection_init before it is answered (a client
# should wait for the ack; one that pipelines its first subscriptions is served in order).
MAX_PENDING = 32
# How long after admission's revocation look-up a socket's operations start on it rather
# than asking again: its channel was live before the look-up, so a revocation since
# reaches it there (this bounds what a lost announcement could let start, as the second
# within which a revocation closes sockets).
SESSION_CHECK_FRESH_S = 1.0
DRAIN_TASK_NAME = "hub-drain"  # found by name among the loop's tasks by a test of the stop


@dataclass(frozen=True, slots=True)
class SocketOptions:
    init_timeout_s: float = 3.0
    max_operations: int = 100
    allowed_origins: Collection[str] = ()
    limits: OutboundLimits = field(default_factory=OutboundLimits)


def negotiate(offered: Iterable[str]) -> str | None:
    """The first protocol the client offers that we speak."""
    for protocol in offered:
        if protocol in SUPPORTED:
            return protocol
    return None


class SocketEndpoint:
    """What the hub does with each socket's handshake and messages, whatever carries them
    (`ws_transport.HubProtocol`: uvicorn's transport, without the ASGI app in between)."""

    path = "/graphql"

    def __init__(
        self,
        schema: strawberry.Schema,
        options: SocketOptions,
        metrics: Metrics,
        hub: ConnectionHub,
        container: Container,
    ) -> None:
        self._schema = schema
        self._options = options
        self._metrics = metrics
        self._hub = hub
        self._container = container
        self._services = container.services
        self._admissions = Admissions(
            container.services.auth, container.socket_tickets, hub, metrics, self._admitted
        )

    def refusal(self, origin: str | None, host: str | None) -> str | None:
        """Why a handshake is refused before the upgrade (answered with a 403), or None."""
        hub = self._hub
        if hub.draining:
            reason = "draining"
        elif not origin_allowed(origin, host, self._options.allowed_origins):
            reason = "origin"
        else:
            return None
        self._metrics.ws_refused.labels(reason).inc()
        return reason

    def drain(self) -> asyncio.Task[None] | None:
        """The server is stopping: close every socket with 1012 in batches (the hub's
        drain), started by the first socket told so; None once started."""
        if self._hub.draining:
            return None
        self._hub.draining = True  # at once: the other sockets' shutdown calls follow
        return asyncio.create_task(self._hub.drain(), name=DRAIN_TASK_NAME)

    def opened(self, wire: Wire, subprotocol: str | None, connection_id: str) -> Connection:
        """An upgraded socket: a connection of the hub's, waiting for connection_init."""
        hub = self._hub
        connection = Connection(
            connection_id,
            DIALECTS[subprotocol or TRANSPORT_WS],
            wire,
            self._options.limits,
            now=hub.clock(),
            on_slow=self._metrics.ws_slow_consumers.inc,
            router=hub,
        )
        hub.add(connection)
        self._metrics.ws_open.inc()
        self._metrics.ws_connections.inc()
        log.info("websocket opened", extra={"path": self.path, "protocol": subprotocol})
        if subprotocol is None:
            connection.close(Close.SUBPROTOCOL, "no supported subprotocol offered")
            return connection
        connection.init_timer = asyncio.get_running_loop().call_later(
            self._options.init_timeout_s, _init_timed_out, connection
        )
        return connection

    def closed(self, connection: Connection, code: int | None) -> asyncio.Task[None]:
        """The transport is gone: stop what the socket ran, then leave the hub."""
        connection.lost()
        self._metrics.ws_open.dec()
        log.info(
            "websocket closed",
            extra={
                "code": code,
                "duration_s": round(self._hub.clock() - connection.opened_at, 3),
            },
        )
        return asyncio.create_task(self._ended(connection))

    async def _ended(self, connection: Connection) -> None:
        await connection.finish()
        await self._hub.remove(connection)

    def alive(self, connection: Connection) -> None:
        """The client sent something other than a message (a ping or a pong frame)."""
        connection.last_seen = self._hub.clock()

    def received(self, connection: Connection, data: bytes) -> None:
        """One message from the client (a text or binary frame's payload)."""
        connection.last_seen = self._hub.clock()
        if connection.closing is not None:
            return
        if connection.pending is not None:  # connection_init is being answered
            if len(connection.pending) >= MAX_PENDING:
                connection.close(Close.BAD_REQUEST, "too many messages before connection_ack")
            else:
                connection.pending.append(data)
            return
        try:
            message = parse_message(connection.dialect.name, data)
        except ProtocolViolation as violation:
            connection.close(Close.BAD_REQUEST, str(violation)[:MAX_CLOSE_REASON])
            return
        match message:
            case Subscribe():
                self._subscribe(connection, message)
            case Complete(id=op_id):
                operation = connection.operations.pop(op_id, None)
                if operation is not None:
                    operation.cancel()
            case Ping():
                if not connection.dialect.legacy:
                    connection.push(connection.dialect.pong())
            case Init(payload=payload):
                self._start_init(connection, payload)
            case Terminate():
                connection.close(Close.NORMAL)
            case _:  # Pong: proof of life, already noted
                pass

    def _start_init(self, connection: Connection, payload: dict[str, Any]) -> None:
        if connection.init_received:
            connection.close(Close.TOO_MANY_INIT, "Too many initialisation requests")
            return
        connection.init_received = True
        if connection.init_timer is not None:
            connection.init_timer.cancel()
            connection.init_timer = None
        connection.pending = []  # what comes next waits for the answer
        self._admissions.add(connection, payload)

    def _admitted(self, connection: Connection) -> None:
        """Its connection_init is answered: acknowledge it, then answer what it sent
        meanwhile, in order."""
        user = {"userId": str(connection.viewer.user_id)} if connection.viewer else None
        connection.push(connection.dialect.ack(user))
        pending, connection.pending = connection.pending, None
        for data in pending or ():
            self.received(connection, data)

    def _subscribe(self, connection: Connection, message: Subscribe) -> None:
        if not connection.acked:
            connection.close(Close.UNAUTHORIZED, "Unauthorized")
            return
        if message.id in connection.operations:
            reason = f"Subscriber for {message.id} already exists"
            connection.close(Close.DUPLICATE_ID, reason[:MAX_CLOSE_REASON])
            return
        if len(connection.operations) >= self._options.max_operations:
            refusal = {
                "message": f"at most {self._options.max_operations} operations per socket",
                "extensions": {"code": "TOO_MANY_OPERATIONS"},
            }
            connection.push(connection.dialect.error(message.id, [refusal]))
            return
        self._metrics.ws_operations.inc()
        hub = self._hub
        services = self._services

        def make_context(conn: Connection) -> Context:
            return Context(
                request=None,
                services=services,
                viewer=conn.viewer,
                socket_auth=conn.auth,
                live=conn,
            )

        pushed = hub.pusher.plan(connection, message) if hub.pusher is not None else None
        plan = None
        if pushed is None and hub.multiplexer is not None:
            plan = hub.multiplexer.plan(message)
        if pushed is not None:
            if self._pushed_at_once(pushed, connection, message):
                return
            runner = self._push(pushed, connection, message, make_context)
        elif plan is not None and hub.multiplexer is not None:
            runner = self._join_shared(hub.multiplexer, plan, connection, message, make_context)
        else:
            runner = run_operation(self._schema, connection, message, make_context)
        connection.operations[message.id] = asyncio.create_task(runner)

    def _pushed_at_once(self, push: Push, connection: Connection, message: Subscribe) -> bool:
        """Start a pushed operation now, with no task, when it has nothing to wait for:
        its session checked moments ago and nothing missed to replay (`_push` otherwise,
        which meets any failure the ordinary way)."""
        auth, viewer = connection.auth, connection.viewer
        if auth is not None and not self._session_fresh(connection, auth):
            return False
        assert viewer is not None  # Pusher.plan pushes only for a viewer
        try:
            pages = push.plan.field.catch_up(push.arguments, viewer.user_id, self._services)
        except Exception:
            return False
        if pages is not None:
            return False
        operation = PushedOperation(connection, message.id, push.plan)
        connection.operations[message.id] = operation
        operation.go()
        return True

    def _session_fresh(self, connection: Connection, auth: Authenticated) -> bool:
        """Its session was found unrevoked lately and its token has not expired since."""
        checked_at = connection.session_checked_at
        return (
            checked_at is not None
            and asyncio.get_running_loop().time() - checked_at < SESSION_CHECK_FRESH_S
            and not self._services.auth.expired(auth)
        )

    async def _push(
        self,
        push: Push,
        connection: Connection,
        message: Subscribe,
        make_context: Callable[[Connection], Context],
    ) -> None:
        """Check the socket's session is still live (as the field's permission would),
        send what was missed since a resume point, then answer each live event as it
        comes, with no task: this one ends."""
        plan = push.plan
        operation = PushedOperation(connection, message.id, plan)  # listening from here
        sent = False
        try:
            if connection.auth is not None:
                await self._services.auth.ensure_live(connection.auth)
            assert connection.viewer is not None  # Pusher.plan pushes only for a viewer
            pages = plan.field.catch_up(push.arguments, connection.viewer.user_id, self._services)
            if pages is not None:
                async for values in pages:
                    operation.replay(values)
                    sent = True
        except asyncio.CancelledError:
            operation.cancel()
            raise
        except Exception:
            operation.cancel()
            if sent:  # frames went out: starting again would repeat them
                log.exception("socket catch-up failed", extra={"operation_id": message.id})
                failure = {
                    "message": "internal error",
                    "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                }
                connection.push(connection.dialect.error(message.id, [failure]))
                if connection.operations.get(message.id) is asyncio.current_task():
                    del connection.operations[message.id]
                return
            # The ordinary path meets the same failure and reports it as it always has.
            await run_operation(self._schema, connection, message, make_context)
            return
        if connection.operations.get(message.id) is asyncio.current_task():
            connection.operations[message.id] = operation
            operation.go()
        else:  # completed by the client meanwhile
            operation.cancel()

    async def _join_shared(
        self,
        multiplexer: Multiplexer,
        plan: SharePlan,
        connection: Connection,
        message: Subscribe,
        make_context: Callable[[Connection], Context],
    ) -> None:
        services = make_context(connection).services

        def shared_context(stream: SharedStream) -> Context:
            return Context(request=None, services=services, live=stream)

        try:
            await multiplexer.join(
                plan, connection, message, make_context(connection), shared_context
            )
        except DomainError as error:
            refusal = {"message": error.message, "extensions": error.extensions()}
            connection.push(connection.dialect.error(message.id, [refusal]))
            if connection.operations.get(message.id) is asyncio.current_task():
                del connection.operations[message.id]


def _init_timed_out(connection: Connection) -> None:
    if not connection.init_received:
        connection.close(Close.INIT_TIMEOUT, "Connection initialisation timeout")
