"""The header of a server's text frame: the hub writes its frames with it; it imports
nothing, so a bare server (loadtests/peer_floor.py) frames the same way without the hub."""

from __future__ import annotations

_TEXT_HEADER = 0x81  # FIN + text opcode


def text_frame_header(size: int) -> bytes:
    """The header of an unmasked, unfragmented text frame of `size` bytes (RFC 6455 5.2)."""
    if size < 126:
        return bytes((_TEXT_HEADER, size))
    if size < 65536:
        return bytes((_TEXT_HEADER, 126)) + size.to_bytes(2, "big")
    return bytes((_TEXT_HEADER, 127)) + size.to_bytes(8, "big")
