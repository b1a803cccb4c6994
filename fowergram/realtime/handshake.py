"""The WebSocket opening handshake (RFC 6455 4.2): an upgrade request read and answered.

The request comes whole in one of two ways: as the client sent it, when its head arrived
in one piece and in RFC 9112's grammar (`front_door` checks that before handing it
here), or as uvicorn rebuilds it for its `ws` protocol class after parsing it with
httptools (any other upgrade). websockets' sans-I/O server would parse it again line by
line in Python, check it with its RFC 7230 token parsers and format a Date for the
answer: ~20% of a socket's set-up in a reconnect storm. Here the request is split once
and checked for what RFC 6455 asks of a server; websockets still parses every frame
after it.

Pure: bytes in, a decision and the bytes of the answer out.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
from dataclasses import dataclass
from http import HTTPStatus

from websockets.utils import accept_key

END_OF_HEADERS = b"\r\n\r\n"
WEBSOCKET_VERSION = "13"


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A valid upgrade request: what the server needs to decide and answer."""

    path: str  # without the query string
    host: str | None
    origin: str | None
    subprotocols: tuple[str, ...]  # as offered, in order
    accept: str  # Sec-WebSocket-Accept
    rest: bytes  # what followed the request in the same chunk (frames already)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An invalid upgrade request: the HTTP error to answer it with."""

    status: HTTPStatus
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def read_upgrade(data: bytes) -> Upgrade | Refusal:
    """The upgrade request at the start of `data`, checked (RFC 6455 4.2.1)."""
    head, found, rest = data.partition(END_OF_HEADERS)
    if not found:
        return Refusal(HTTPStatus.BAD_REQUEST, "incomplete request")
    # Header values are opaque octets (RFC 9110 5.5); latin-1 keeps each one.
    lines = head.decode("latin-1").split("\r\n")
    method, _, target_and_version = lines[0].partition(" ")
    target, _, version = target_and_version.rpartition(" ")
    if method != "GET":
        return Refusal(HTTPStatus.METHOD_NOT_ALLOWED, "only GET", (("Allow", "GET"),))
    if version != "HTTP/1.1" or not target:
        return Refusal(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP/1.1 only")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or " " in name or "\t" in name:
            return Refusal(HTTPStatus.BAD_REQUEST, "malformed header line")
        headers.setdefault(name.lower(), []).append(value.strip(" \t"))
    return checked(target, headers, rest)


def checked(target: str, headers: dict[str, list[str]], rest: bytes) -> Upgrade | Refusal:
    """The request read into its target and headers (names in lower case, each one's values
    stripped, in order), checked for what RFC 6455 asks of a server."""
    if "upgrade" not in _tokens(headers.get("connection")):
        return _upgrade_required("Connection: Upgrade expected")
    if _tokens(headers.get("upgrade")) != ["websocket"]:
        return _upgrade_required("Upgrade: websocket expected")
    key = _single(headers, "sec-websocket-key")
    if key is None or not _valid_key(key):
        return Refusal(HTTPStatus.BAD_REQUEST, "one Sec-WebSocket-Key of 16 bytes expected")
    if _single(headers, "sec-websocket-version") != WEBSOCKET_VERSION:
        # RFC 6455 4.4: name the version spoken here.
        return Refusal(
            HTTPStatus.UPGRADE_REQUIRED,
            "Sec-WebSocket-Version 13 expected",
            (("Sec-WebSocket-Version", WEBSOCKET_VERSION),),
        )
    offered = tuple(
        protocol.strip()
        for header in headers.get("sec-websocket-protocol", ())
        for protocol in header.split(",")
        if protocol.strip()
    )
    return Upgrade(
        path=target.partition("?")[0],
        host=_single(headers, "host"),
        origin=_single(headers, "origin"),
        subprotocols=offered,
        accept=accept_key(key),
        rest=rest,
    )


def _tokens(values: list[str] | None) -> list[str]:
    """A comma-separated list header's tokens, all its lines together, lower case."""
    if not values:
        return []
    return [token.strip().lower() for value in values for token in value.split(",")]


def _single(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values is not None and len(values) == 1 else None


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def _upgrade_required(reason: str) -> Refusal:
    return Refusal(HTTPStatus.UPGRADE_REQUIRED, reason, (("Upgrade", "websocket"),))


def accepted(upgrade: Upgrade, subprotocol: str | None) -> bytes:
    """The 101 answer. No Date: optional on a 1xx answer (RFC 9110 6.6.1)."""
    protocol = f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else ""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {upgrade.accept}\r\n{protocol}\r\n"
    ).encode("latin-1")


def refused(refusal: Refusal) -> bytes:
    """The error answer, a short plain text, the connection closing after it."""
    body = f"Failed to open a WebSocket connection: {refusal.reason}.\n".encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in refusal.headers)
    return (
        f"HTTP/1.1 {refusal.status.value} {refusal.status.phrase}\r\n"
        f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
        "Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode("latin-1") + body
