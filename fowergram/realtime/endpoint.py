"""The WebSocket endpoint at /graphql: handshake, `connection_init`, and each message.

Our own protocol handler rather than Strawberry's: the hub needs bounded outboxes,
per-user channels, revocation, keep-alive and draining around each socket, and the
few objects per socket that a large number of idle sockets can afford.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from fowergram.domain.errors import DomainError
from fowergram.graphql.context import Context
from fowergram.observability.logs import connection_id_var
from fowergram.observability.metrics import Metrics
from fowergram.realtime.connection import Connection, OutboundLimits
from fowergram.realtime.hub import ConnectionHub
from fowergram.realtime.multiplex import Multiplexer, SharedStream, SharePlan
from fowergram.realtime.operations import run_operation
from fowergram.realtime.origins import origin_allowed
from fowergram.realtime.protocol import (
    SUPPORTED,
    ClientMessage,
    Close,
    Complete,
    Dialect,
    Init,
    Ping,
    ProtocolViolation,
    Subscribe,
    Terminate,
    parse_message,
)
from fowergram.realtime.socket_auth import SocketRejected, authenticate_socket

log = logging.getLogger(__name__)
MAX_CLOSE_REASON = 120  # a close frame's reason is at most 123 bytes


@dataclass(frozen=True, slots=True)
class SocketOptions:
    init_timeout_s: float = 3.0
    max_operations: int = 100
    allowed_origins: Collection[str] = ()
    limits: OutboundLimits = field(default_factory=OutboundLimits)


def _negotiate(scope: Scope) -> str | None:
    for offered in scope.get("subprotocols", ()):
        if offered in SUPPORTED:
            return str(offered)
    return None


class SocketEndpoint:
    def __init__(self, schema: strawberry.Schema, options: SocketOptions, metrics: Metrics) -> None:
        self._schema = schema
        self._options = options
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub: ConnectionHub = scope["state"]["hub"]
        if (await receive())["type"] != "websocket.connect":
            return
        headers = Headers(scope=scope)
        if hub.draining or not origin_allowed(
            headers.get("origin"), headers.get("host"), self._options.allowed_origins
        ):
            # Refused before the upgrade: uvicorn answers the handshake with a 403.
            self._metrics.ws_refused.labels("draining" if hub.draining else "origin").inc()
            await send({"type": "websocket.close", "code": Close.FORBIDDEN})
            return
        protocol = _negotiate(scope)
        if protocol is None:
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": Close.SUBPROTOCOL})
            return
        await send({"type": "websocket.accept", "subprotocol": protocol})
        connection = Connection(
            connection_id_var.get() or uuid.uuid4().hex,
            Dialect(protocol),
            send,
            self._options.limits,
            now=hub.clock(),
            on_slow=self._metrics.ws_slow_consumers.inc,
            router=hub,
        )
        connection.start()
        hub.add(connection)
        timer = asyncio.get_running_loop().call_later(
            self._options.init_timeout_s, _init_timed_out, connection
        )
        try:
            await self._read(connection, hub, scope, receive, send)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            # Our own doing (a client that would not take its close frame): done. Anything
            # else (server shutdown) goes on cancelling.
            if connection.closing is None or task is None or task.uncancel() > 0:
                raise
        finally:
            timer.cancel()
            await connection.finish()
            await hub.remove(connection)

    async def _read(
        self, connection: Connection, hub: ConnectionHub, scope: Scope, receive: Receive, send: Send
    ) -> None:
        protocol = connection.dialect.name
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            connection.last_seen = hub.clock()
            if connection.closing is not None:
                continue
            data = event.get("text")
            if data is None:
                data = event.get("bytes") or b""
            try:
                message = parse_message(protocol, data)
            except ProtocolViolation as violation:
                connection.close(Close.BAD_REQUEST, str(violation)[:MAX_CLOSE_REASON])
                continue
            await self._handle(connection, message, hub, scope, receive, send)

    async def _handle(
        self,
        connection: Connection,
        message: ClientMessage,
        hub: ConnectionHub,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        match message:
            case Subscribe():
                self._subscribe(connection, message, scope, receive, send)
            case Complete(id=op_id):
                operation = connection.operations.pop(op_id, None)
                if operation is not None:
                    operation.cancel()
            case Ping():
                if not connection.dialect.legacy:
                    connection.push(connection.dialect.pong())
            case Init(payload=payload):
                await self._init(connection, payload, hub, scope)
            case Terminate():
                connection.close(Close.NORMAL)
            case _:  # Pong: proof of life, already noted
                pass

    async def _init(
        self, connection: Connection, payload: dict[str, Any], hub: ConnectionHub, scope: Scope
    ) -> None:
        if connection.init_received:
            connection.close(Close.TOO_MANY_INIT, "Too many initialisation requests")
            return
        connection.init_received = True
        container = scope["state"]["container"]
        try:
            authenticated = await authenticate_socket(
                payload, container.services.auth, container.socket_tickets
            )
        except SocketRejected as rejected:
            self._metrics.ws_refused.labels("credentials").inc()
            connection.close(Close.FORBIDDEN, f"Forbidden: {rejected}"[:MAX_CLOSE_REASON])
            return
        except Exception:
            # A dependency is down (e.g. Redis, where revocations live): not the client's
            # fault; 1011 tells it to retry later rather than to sign in again.
            log.exception("socket authentication failed")
            connection.close(Close.INTERNAL, "authentication unavailable, retry later")
            return
        if connection.closing is not None:
            return
        connection.auth = authenticated
        connection.viewer = authenticated.viewer if authenticated else None
        connection.acked = True
        await hub.attach(connection)
        user = {"userId": str(connection.viewer.user_id)} if connection.viewer else None
        connection.push(connection.dialect.ack(user))

    def _subscribe(
        self, connection: Connection, message: Subscribe, scope: Scope, receive: Receive, send: Send
    ) -> None:
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
        hub: ConnectionHub = scope["state"]["hub"]
        container = scope["state"]["container"]

        def make_context(conn: Connection) -> Context:
            return Context(
                request=WebSocket(scope, receive, send),
                services=container.services,
                viewer=conn.viewer,
                socket_auth=conn.auth,
                live=conn,
            )

        plan = hub.multiplexer.plan(message) if hub.multiplexer is not None else None
        if plan is not None and hub.multiplexer is not None:
            runner = self._join_shared(hub.multiplexer, plan, connection, message, make_context)
        else:
            runner = run_operation(self._schema, connection, message, make_context)
        connection.operations[message.id] = asyncio.create_task(runner)

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
