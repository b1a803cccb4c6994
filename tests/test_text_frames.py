"""The hub's text-frame header against websockets' own serialisation, at every boundary of
RFC 6455's three length forms."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from fowergram.realtime.text_frames import text_frame_header


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_a_header_frames_its_payload_as_websockets_does(size: int) -> None:
    payload = b"x" * size
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False)
    assert text_frame_header(size) + payload == expected
