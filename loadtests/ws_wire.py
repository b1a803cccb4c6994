"""A lean graphql-transport-ws client for the WebSocket benchmark: one `asyncio.Protocol`
per socket, the HTTP upgrade written by hand, frames parsed in place.

The `websockets` client costs a task, queues and a frame object per message: on one core
it cannot hold 10,000 sockets and count tens of thousands of frames a second, and the
load generator must not be what is measured. Here a socket is one small object; every
server frame is counted, a delivery (`next`) is decoded only when it is sampled for
latency, and everything else (acks, pings, errors) is decoded and answered.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import orjson

PROTOCOL = "graphql-transport-ws"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA
_NEXT = b'"type":"next"'
_PONG_MESSAGE = b'{"type":"pong"}'


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame (RFC 6455 5.3: every client frame is masked)."""
    key = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    # XOR as one big integer: far cheaper in Python than a loop over the bytes.
    repeated = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        size, "big"
    )
    return header + key + masked


def text_frame(message: dict[str, Any]) -> bytes:
    return client_frame(_TEXT, orjson.dumps(message))


class Stats:
    """What every socket of one generator adds up: frames, deliveries, latency samples.
    `on_delivery` sees the receipt time of every delivery frame (stall detection)."""

    __slots__ = (
        "closes",
        "deliveries",
        "frames",
        "last_delivery",
        "latencies",
        "longest_gap",
        "sample_every",
    )

    def __init__(self, sample_every: int) -> None:
        self.frames = 0
        self.deliveries = 0
        self.sample_every = max(1, sample_every)
        # (publish time, receipt time) of sampled deliveries: the publish time travels in
        # the notification's updatedAt.
        self.latencies: list[tuple[float, float]] = []
        self.closes: dict[str, int] = {}
        # The longest time between two deliveries (any sockets) since `restart_gaps`: at
        # a steady publish rate, a server stall shows as a gap.
        self.last_delivery = 0.0
        self.longest_gap = 0.0

    def restart_gaps(self) -> None:
        self.last_delivery = time.monotonic()
        self.longest_gap = 0.0

    def closed(self, why: str) -> None:
        self.closes[why] = self.closes.get(why, 0) + 1


def _published_at(frame: bytes) -> float | None:
    try:
        payload = orjson.loads(frame)["payload"]
        stamp = payload["data"]["notifications"]["updatedAt"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return datetime.fromisoformat(stamp).timestamp()


class WsClient(asyncio.Protocol):
    """One socket. `opened` resolves at the 101; `acked` at `connection_ack`."""

    __slots__ = (
        "_buffer",
        "_handshaken",
        "_key",
        "_on_message",
        "_request",
        "_stats",
        "_transport",
        "acked",
        "open",
        "opened",
    )

    def __init__(
        self,
        stats: Stats,
        host: str,
        *,
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._stats = stats
        self._buffer = bytearray()
        self._handshaken = False
        self._key = base64.b64encode(os.urandom(16))
        self._transport: asyncio.Transport | None = None
        self._on_message = on_message
        self.opened: asyncio.Future[None] | None = loop.create_future()
        self.acked: asyncio.Future[dict[str, Any]] | None = loop.create_future()
        self.open = False
        self._request = (
            b"GET /graphql HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + self._key + b"\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: " + PROTOCOL.encode() + b"\r\n\r\n"
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport implements asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def send(self, message: dict[str, Any]) -> None:
        if self._transport is not None and self.open:
            self._transport.write(text_frame(message))

    def close(self) -> None:
        if self._transport is not None:
            if self.open:
                self._transport.write(client_frame(_CLOSE, struct.pack("!H", 1000)))
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            self._stats.closed("connection lost" if exc else "closed by server")
        self.open = False
        failure = ConnectionError(f"socket closed: {exc}")
        for future in (self.opened, self.acked):
            if future is not None and not future.done():
                future.set_exception(failure)
                future.exception()  # retrieved: no "never retrieved" warning if unawaited

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        if not buffer and self._handshaken:
            # The usual read: whole frames and nothing left over from the last one. Read
            # in place (no copy into the buffer and out again: the generator's core is as
            # busy as the server's in the broadcast scenario).
            taken = self._frames(data)
            if taken < len(data):
                buffer += data[taken:]
            return
        buffer += data
        if not self._handshaken:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self._handshake(bytes(buffer[:end])):
                return
            del buffer[: end + 4]
        del buffer[: self._frames(buffer)]

    def _frames(self, buffer: bytes | bytearray) -> int:
        """Count (and answer) the whole frames at the start of `buffer`; the bytes taken."""
        stats = self._stats
        delivered = stats.deliveries
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length, start = second & 0x7F, offset + 2
            if length == 126:
                if size - start < 2:
                    break
                (length,) = struct.unpack_from("!H", buffer, start)
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                (length,) = struct.unpack_from("!Q", buffer, start)
                start += 8
            if second & 0x80:  # a masked server frame would break the RFC; skip the key
                start += 4
            end = start + length
            if end > size:
                break
            opcode = first & 0x0F
            stats.frames += 1
            if opcode == _TEXT:
                if buffer.find(_NEXT, start, min(end, start + 48)) >= 0:
                    stats.deliveries += 1
                    if stats.deliveries % stats.sample_every == 0:
                        self._sample(bytes(buffer[start:end]))
                else:
                    self._control_message(bytes(buffer[start:end]))
            elif opcode == _PING and self._transport is not None:
                self._transport.write(client_frame(_PONG, bytes(buffer[start:end])))
            elif opcode == _CLOSE:
                code = struct.unpack_from("!H", buffer, start)[0] if length >= 2 else 1005
                self._stats.closed(f"close {code}")
                self.open = False
                if self._transport is not None:
                    self._transport.close()
            offset = end
        if stats.deliveries != delivered:
            now = time.monotonic()
            if now - stats.last_delivery > stats.longest_gap:
                stats.longest_gap = now - stats.last_delivery
            stats.last_delivery = now
        return offset

    def _sample(self, frame: bytes) -> None:
        published = _published_at(frame)
        if published is not None:
            self._stats.latencies.append((published, time.time()))

    def _handshake(self, head: bytes) -> bool:
        status, *lines = head.split(b"\r\n")
        if not status.startswith(b"HTTP/1.1 101"):
            self._fail(ConnectionError(f"upgrade refused: {status.decode(errors='replace')}"))
            return False
        expected = base64.b64encode(hashlib.sha1(self._key + _GUID).digest())
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(b":") for x in lines)}
        if headers.get(b"sec-websocket-accept") != expected:
            self._fail(ConnectionError("bad Sec-WebSocket-Accept"))
            return False
        self._handshaken = self.open = True
        if self.opened is not None and not self.opened.done():
            self.opened.set_result(None)
        return True

    def _control_message(self, frame: bytes) -> None:
        message = orjson.loads(frame)
        kind = message.get("type")
        if kind == "ping":
            if self._transport is not None:
                self._transport.write(client_frame(_TEXT, _PONG_MESSAGE))
        elif kind == "connection_ack":
            if self.acked is not None and not self.acked.done():
                self.acked.set_result(message)
        elif self._on_message is not None:
            self._on_message(message)

    def _fail(self, error: Exception) -> None:
        if self.opened is not None and not self.opened.done():
            self.opened.set_exception(error)
        if self._transport is not None:
            self._transport.close()

    def settled(self) -> None:
        """Set-up is over: drop the futures (two objects fewer per idle socket)."""
        self.opened = self.acked = None
