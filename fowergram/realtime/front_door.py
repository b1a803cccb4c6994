"""Each TCP connection's first protocol: its first bytes choose the one that serves it.

uvicorn gives every connection an HTTP protocol object: the request parsed by httptools
with a Python callback per header, the ASGI scope built, the local and remote addresses
read (a socket object made for each), and for an upgrade the request rebuilt as bytes for
its `ws` protocol class, which reads it again. For a reconnect storm of WebSocket clients
all of that is spent per socket only to hand the bytes on. Here an upgrade to the hub's
path whose head arrived whole and well-formed is read here, once, and goes to
`HubProtocol` checked (`handshake.checked`), which answers it. Everything
else, including any head this does not recognise, goes to uvicorn's HTTP protocol
unchanged, which upgrades to the same `HubProtocol` when it should.

Set as uvicorn's `http` option by `server.uvicorn_options`.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fowergram.realtime.handshake import END_OF_HEADERS, Refusal, Upgrade, checked
from fowergram.realtime.ws_transport import HubProtocol

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

HUB_REQUEST_LINE = b"GET /graphql"
# Ours are ~250 bytes; a longer head is left to httptools (and this look stays cheap).
MAX_HEAD_BYTES = 8192
# A head in RFC 9112's grammar: the request line, then field lines whose names are tokens
# and whose values hold no control characters but tab. Anything looser (obsolete folding,
# bare LFs, stray spaces) goes to httptools, which refuses or reads it as before. Linear:
# a value cannot hold the CR that ends it, so no part can be matched two ways.
_WELL_FORMED_HEAD = re.compile(
    rb"GET /graphql(?:[?][!-~]*)? HTTP/1\.1"
    rb"(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t -~\x80-\xff]*)*"
)
# A body's framing is httptools' to judge (conflicting or malformed lengths are what
# request smuggling behind a proxy relies on): such heads go to it.
_BODY_FRAMING = frozenset({"content-length", "transfer-encoding"})
_READ_ONCE = frozenset({"upgrade", "connection"})
_OWS = " \t"


def hub_upgrade(data: bytes) -> Upgrade | Refusal | None:
    """The upgrade request `data` starts with, read and checked (`handshake.checked`), if
    it is a whole, well-formed WebSocket upgrade to /graphql that httptools would read the
    same way: one Upgrade line (`websocket`), one Connection line naming `upgrade` (RFC
    9110 7.8: otherwise Upgrade is ignored and the request is plain HTTP), no body
    framing. None for anything else (httptools' to read)."""
    if not data.startswith(HUB_REQUEST_LINE):
        return None
    end = data.find(END_OF_HEADERS, 0, MAX_HEAD_BYTES)
    if end < 0:
        return None
    if _WELL_FORMED_HEAD.fullmatch(data, 0, end) is None:
        return None
    # Header values are opaque octets (RFC 9110 5.5); latin-1 keeps each one.
    lines = data[:end].decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.lower()
        if name in _BODY_FRAMING:
            return None
        values = headers.get(name)
        if values is None:
            headers[name] = [value.strip(_OWS)]
        elif name in _READ_ONCE:  # uvicorn reads the last one only: its reading stands
            return None
        else:
            values.append(value.strip(_OWS))
    upgrade, connection = headers.get("upgrade"), headers.get("connection")
    if upgrade is None or connection is None or upgrade[0].lower() != "websocket":
        return None
    if not any(token.strip(_OWS).lower() == "upgrade" for token in connection[0].split(",")):
        return None
    target = lines[0][len("GET ") : -len(" HTTP/1.1")]
    return checked(target, headers, data[end + len(END_OF_HEADERS) :])


class FrontDoor(asyncio.Protocol):
    """Waits for a connection's first bytes, then hands the connection to its protocol."""

    __slots__ = ("_app_state", "_config", "_loop", "_server_state", "_transport")

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self._config = config
        self._server_state = server_state
        self._app_state = app_state
        self._loop = _loop
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio.Transport: no isinstance.
        self._transport = cast(asyncio.Transport, transport)
        # Told to shut down like uvicorn's own idle connections (the type names its own).
        self._server_state.connections.add(self)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        self._transport = None
        self._server_state.connections.discard(self)
        upgrade = hub_upgrade(data)
        if upgrade is None:
            protocol = HttpToolsProtocol(
                self._config, self._server_state, self._app_state, self._loop
            )
            protocol.connection_made(transport)
            transport.set_protocol(protocol)
            protocol.data_received(data)
            return
        hub = HubProtocol(self._config, self._server_state, self._app_state)
        hub.connection_made(transport)
        transport.set_protocol(hub)
        hub.upgrade_received(upgrade)

    def eof_received(self) -> bool | None:
        return None  # closed before a request: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._transport = None
            self._server_state.connections.discard(self)

    def shutdown(self) -> None:
        """uvicorn is stopping: no request came on this connection, so just close it."""
        if self._transport is not None:
            self._transport.close()
