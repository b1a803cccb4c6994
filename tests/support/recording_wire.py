"""A transport as a `Connection` writes to it, recording what it was given."""

from __future__ import annotations


class RecordingWire:
    """What a transport was given; `paused` as if the client had stopped reading."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closes: list[tuple[int, str]] = []
        self.pings = 0
        self.paused = False
        self.buffered = 0
        self.aborted = False

    @property
    def writing_paused(self) -> bool:
        return self.paused

    def write_text(self, payload: bytes) -> None:
        self.frames.append(payload)
        if self.paused:
            self.buffered += len(payload)

    def backlog(self) -> int:
        return self.buffered

    def send_close(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))

    def send_ping(self) -> None:
        self.pings += 1

    def abort(self) -> None:
        self.aborted = True
