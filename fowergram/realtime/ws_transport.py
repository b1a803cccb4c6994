"""The hub's sockets at the transport: uvicorn's WebSocket protocol class, our own.

uvicorn hands an upgraded connection to its `ws` protocol class (and `front_door` hands
it a well-formed upgrade before uvicorn parses it at all). Through ASGI every socket
costs a task for the app, a receive queue, two Starlette `WebSocket`s and the middleware
frames, and every frame sent walks the ASGI send chain (~8-18 µs each, most of a
broadcast's cost). This class serves /graphql itself: the handshake is checked
and answered by `handshake` (from the client's bytes or uvicorn's rebuilt request), then
websockets' sans-I/O `ServerProtocol` parses what the client sends; each message goes
straight to the `SocketEndpoint`; frames to the client are framed here (a server's frames
are unmasked: a header and the payload) and written to the transport, whose buffer is
the socket's bounded outbox (`Connection.push`). Other paths are answered 404: the app
has no other WebSocket route.

Set as uvicorn's `ws` option by `server.uvicorn_options`, and used by `front_door`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from fowergram.observability.logs import connection_id_var
from fowergram.observability.trace_ids import next_trace_id
from fowergram.realtime.connection import CLOSE_TIMEOUT_S, Connection
from fowergram.realtime.endpoint import negotiate
from fowergram.realtime.handshake import Refusal, Upgrade, accepted, read_upgrade, refused
from fowergram.realtime.text_frames import text_frame_header

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from fowergram.realtime.endpoint import SocketEndpoint

log = logging.getLogger(__name__)
# websockets' parser logs here; given, it is not looked up again for every socket.
_WS_LOG = logging.getLogger("websockets.server")
ABNORMAL_CLOSURE = 1006  # no close frame either way


class HubProtocol(asyncio.Protocol):
    """One socket, from the upgrade request to the end of its TCP connection."""

    __slots__ = (
        "_closer",
        "_context",
        "_endpoint",
        "_fragments",
        "_lost",
        "_max_size",
        "_paused",
        "_server_state",
        "_ws",
        "connection",
        "transport",
    )

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._server_state = server_state
        self._endpoint: SocketEndpoint | None = app_state.get("sockets")
        self._max_size = config.ws_max_size
        self._ws: ServerProtocol | None = None  # once the handshake is accepted
        self.transport: asyncio.Transport | None = None
        self.connection: Connection | None = None
        # The socket's log context (its connection id), for its tasks' log lines too.
        self._context: contextvars.Context | None = None
        self._fragments: list[bytes] | None = None
        self._paused = False
        self._lost = False
        self._closer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio.Transport: no isinstance.
        self.transport = cast(asyncio.Transport, transport)
        # uvicorn's shutdown calls `shutdown()` on each (its type names only its own).
        self._server_state.connections.add(self)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        if ws is None:
            self.upgrade_received(read_upgrade(data))
            return
        self._frames(ws, data)

    def eof_received(self) -> bool | None:
        # The client half-closed: websockets treats it as the end (ABNORMAL if no close).
        if self._ws is None:
            return None  # closes the transport
        self._ws.receive_eof()
        self._flush()
        return None

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self.connection is not None:
            self.connection.writable()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._server_state.connections.discard(self)
        connection, self.connection = self.connection, None
        context, self._context = self._context, None
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        code = self._close_code()
        # Leave no reference cycle for the collector to find (or, frozen, to keep): the
        # transport and this protocol point at each other, and websockets' parser
        # generator at its protocol.
        self.transport = None
        if self._ws is not None:
            self._ws.parser.close()
        if connection is None or self._endpoint is None or context is None:
            return
        ended = context.run(self._endpoint.closed, connection, code)
        tasks = self._server_state.tasks
        tasks.add(ended)
        ended.add_done_callback(tasks.discard)

    # uvicorn: the server is stopping (it stopped accepting, then calls this on every
    # connection at once, then waits for them to go, up to its graceful timeout)

    def shutdown(self) -> None:
        if self.connection is None or self._endpoint is None:
            if self.transport is not None:
                self.transport.close()
            return
        # Not all at once, which would send every client reconnecting in the same
        # instant: the first socket told starts the hub's drain (1012 in batches).
        drain = self._endpoint.drain()
        if drain is not None:
            tasks = self._server_state.tasks
            tasks.add(drain)
            drain.add_done_callback(tasks.discard)

    # Wire: what a Connection writes through

    @property
    def writing_paused(self) -> bool:
        return self._paused

    def write_text(self, payload: bytes) -> None:
        if self._lost or self.transport is None:
            return
        self.transport.write(text_frame_header(len(payload)) + payload)

    def backlog(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def send_close(self, code: int, reason: str) -> None:
        if self._ws is not None and self._ws.state is State.OPEN:
            self._ws.send_close(code, reason)
            self._flush()

    def send_ping(self) -> None:
        if self._ws is not None and self._ws.state is State.OPEN:
            self._ws.send_ping(b"")
            self._flush()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # Internals

    def upgrade_received(self, upgrade: Upgrade | Refusal) -> None:
        """The upgrade request, read already (`front_door`): answer it."""
        if self.transport is not None and not self._lost:
            self._handshake(upgrade)

    def _handshake(self, upgrade: Upgrade | Refusal) -> None:
        transport, endpoint = self.transport, self._endpoint
        assert transport is not None
        if isinstance(upgrade, Upgrade):
            upgrade = self._refused_here(upgrade)
        if isinstance(upgrade, Refusal):
            transport.write(refused(upgrade))
            transport.close()  # after what was written
            self.transport = None  # nothing more read or written here
            return
        assert endpoint is not None  # else refused above
        subprotocol = negotiate(upgrade.subprotocols)
        transport.write(accepted(upgrade, subprotocol))
        self._ws = ServerProtocol(max_size=self._max_size, state=State.OPEN, logger=_WS_LOG)
        connection_id = next_trace_id()
        self._context = context = contextvars.copy_context()
        context.run(connection_id_var.set, connection_id)
        self.connection = context.run(endpoint.opened, self, subprotocol, connection_id)
        if upgrade.rest:
            self._frames(self._ws, upgrade.rest)

    def _refused_here(self, upgrade: Upgrade) -> Upgrade | Refusal:
        """A valid upgrade the hub still turns down: another path, another site's page, a
        server draining."""
        endpoint = self._endpoint
        if endpoint is None or upgrade.path != endpoint.path:
            return Refusal(HTTPStatus.NOT_FOUND, "no WebSocket endpoint at this path")
        if endpoint.refusal(upgrade.origin, upgrade.host):
            return Refusal(HTTPStatus.FORBIDDEN, "refused")
        return upgrade

    def _frames(self, ws: ServerProtocol, data: bytes) -> None:
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Frame):
                self._frame(event)
        self._flush()

    def _frame(self, frame: Frame) -> None:
        connection = self.connection
        if connection is None:
            return
        opcode = frame.opcode
        data = bytes(frame.data)  # websockets gives bytes already: no copy then
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(connection, data)
            else:
                self._fragments = [data]
        elif opcode is Opcode.CONT:
            if self._fragments is not None:
                self._fragments.append(data)
                if frame.fin:
                    data, self._fragments = b"".join(self._fragments), None
                    self._message(connection, data)
        elif self._endpoint is not None:
            # A ping (websockets queues the pong), a pong or a close (websockets answers
            # it): proof of life either way.
            self._endpoint.alive(connection)

    def _message(self, connection: Connection, data: bytes) -> None:
        assert self._endpoint is not None
        assert self._context is not None
        self._context.run(self._endpoint.received, connection, data)

    def _flush(self) -> None:
        transport, ws = self.transport, self._ws
        if transport is None or ws is None:
            return
        for chunk in ws.data_to_send():
            if chunk:
                transport.write(chunk)
            else:
                self._end_tcp(transport)

    def _end_tcp(self, transport: asyncio.Transport) -> None:
        """websockets' end of the connection (the server ends TCP first). Half-closed, not
        closed: a peer still sending (the rest of an oversize message) would otherwise get
        a reset that can overtake the close frame. The peer then closes, or is dropped."""
        if self._closer is not None:
            return
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()
        self._closer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, transport.close)

    def _close_code(self) -> int:
        ws = self._ws
        if ws is None:
            return ABNORMAL_CLOSURE
        if ws.close_rcvd is not None:
            return ws.close_rcvd.code
        if ws.close_sent is not None:
            return ws.close_sent.code
        return ABNORMAL_CLOSURE
