"""WebSocket bytes written and read by hand, for tests whose client must do what no
client library lets it: choose what goes in which write, or stop reading."""

from __future__ import annotations

import os

UPGRADE_HEAD = (
    b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
)


def masked_text_frame(payload: bytes) -> bytes:
    """A client's text frame (RFC 6455 5.3: clients mask what they send)."""
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + masked


def text_payload(frame_bytes: bytes) -> bytes:
    """The payload of the first (unmasked, short) server text frame in `frame_bytes`."""
    assert frame_bytes[0] == 0x81, frame_bytes[:2]
    size = frame_bytes[1]
    assert size < 126
    return frame_bytes[2 : 2 + size]
