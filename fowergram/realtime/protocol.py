"""The two GraphQL-over-WebSocket protocols: their close codes, the messages a client may
send (validated into plain values), and the frames the server sends back.

graphql-transport-ws (the graphql-ws library's protocol) and the legacy graphql-ws
(subscriptions-transport-ws) name the same ideas differently; the hub speaks in the
transport-ws vocabulary and `Dialect` maps it onto either wire format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
SUPPORTED = (TRANSPORT_WS, LEGACY_WS)
MAX_ID_LENGTH = 128
MAX_CLOSE_REASON = 120  # a close frame's reason is at most 123 bytes


class Close(IntEnum):
    """Close codes: graphql-ws's where it defines one, RFC 6455's otherwise."""

    NORMAL = 1000
    GOING_AWAY = 1001
    INTERNAL = 1011
    SERVICE_RESTART = 1012  # draining for a deploy: reconnect elsewhere and resume
    BAD_REQUEST = 4400  # malformed or unexpected message
    UNAUTHORIZED = 4401  # subscribe before connection_ack
    FORBIDDEN = 4403  # bad credentials, or the session was revoked
    SUBPROTOCOL = 4406  # no protocol we speak was offered
    INIT_TIMEOUT = 4408  # connection_init did not come in time
    DUPLICATE_ID = 4409  # an operation with this id is running
    TOO_MANY_INIT = 4429  # graphql-ws: a second connection_init
    # The same number, by our choice: the client did not read what it was sent fast
    # enough and its bounded outbound buffer overflowed.
    SLOW_CONSUMER = 4429


class ProtocolViolation(Exception):
    """A message that breaks the protocol: the socket closes with 4400 and this reason."""


@dataclass(frozen=True, slots=True)
class Init:
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ping:
    payload: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class Subscribe:
    id: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Complete:
    id: str


@dataclass(frozen=True, slots=True)
class Terminate:
    """Legacy `connection_terminate`: the client is leaving."""


ClientMessage = Init | Ping | Pong | Subscribe | Complete | Terminate


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolViolation(f"{what} must be an object")
    return value


def _optional_object(value: Any, what: str) -> dict[str, Any] | None:
    return None if value is None else _object(value, what)


def _id(fields: dict[str, Any]) -> str:
    value = fields.get("id")
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ProtocolViolation(f"'id' must be a string of 1 to {MAX_ID_LENGTH} characters")
    return value


def _subscribe(fields: dict[str, Any]) -> Subscribe:
    op_id = _id(fields)
    payload = _object(fields.get("payload"), "'payload'")
    query = payload.get("query")
    name = payload.get("operationName")
    if not isinstance(query, str):
        raise ProtocolViolation("'payload.query' must be a string")
    if name is not None and not isinstance(name, str):
        raise ProtocolViolation("'payload.operationName' must be a string")
    return Subscribe(
        id=op_id,
        query=query,
        variables=_optional_object(payload.get("variables"), "'payload.variables'"),
        operation_name=name,
        extensions=_optional_object(payload.get("extensions"), "'payload.extensions'"),
    )


def parse_message(protocol: str, data: str | bytes) -> ClientMessage:
    """One client frame as a message of the hub's vocabulary; ProtocolViolation if not."""
    try:
        fields = _object(orjson.loads(data), "a message")
    except orjson.JSONDecodeError:
        raise ProtocolViolation("a message must be JSON") from None
    kind = fields.get("type")
    if kind == "connection_init":
        return Init(_optional_object(fields.get("payload"), "'payload'") or {})
    if protocol == TRANSPORT_WS:
        if kind == "subscribe":
            return _subscribe(fields)
        if kind == "complete":
            return Complete(_id(fields))
        if kind == "ping":
            return Ping(_optional_object(fields.get("payload"), "'payload'"))
        if kind == "pong":
            return Pong()
    else:
        if kind == "start":
            return _subscribe(fields)
        if kind == "stop":
            return Complete(_id(fields))
        if kind == "connection_terminate":
            return Terminate()
    raise ProtocolViolation(f"unknown message type {str(kind)[:40]!r}")


class Dialect:
    """Server frames for one protocol, as text (browser clients refuse binary frames)."""

    __slots__ = ("ack_frame", "keepalive_frame", "legacy", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.legacy = name == LEGACY_WS
        self.ack_frame = '{"type":"connection_ack"}'
        # Legacy clients expect "ka" keep-alives and never answer them; transport-ws
        # clients answer a ping with a pong, which proves the peer alive.
        self.keepalive_frame = '{"type":"ka"}' if self.legacy else '{"type":"ping"}'

    def ack(self, payload: dict[str, Any] | None) -> str:
        if not payload:
            return self.ack_frame
        return orjson.dumps({"type": "connection_ack", "payload": payload}).decode()

    def pong(self) -> str:
        return '{"type":"pong"}'

    def next(self, op_id: str, payload: dict[str, Any]) -> str:
        kind = "data" if self.legacy else "next"
        return orjson.dumps({"id": op_id, "type": kind, "payload": payload}).decode()

    def next_prefix(self, op_id: str) -> bytes:
        """A `next` frame up to its payload: the frame is this, the encoded payload, b"}"
        (made once per operation; each event then costs two concatenations)."""
        kind = b"data" if self.legacy else b"next"
        return b'{"id":' + orjson.dumps(op_id) + b',"type":"' + kind + b'","payload":'

    def error(self, op_id: str, errors: Sequence[Mapping[str, object]]) -> str:
        # Legacy `error` carries one error object; transport-ws a list of them.
        payload: Any = errors[0] if self.legacy else errors
        return orjson.dumps({"id": op_id, "type": "error", "payload": payload}).decode()

    def complete(self, op_id: str) -> str:
        return orjson.dumps({"id": op_id, "type": "complete"}).decode()


# One of each, shared by every socket speaking it.
DIALECTS = {name: Dialect(name) for name in SUPPORTED}
