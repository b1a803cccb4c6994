"""What a client may learn about the server it talks to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fowergram.domain.clock import Clock


@dataclass(frozen=True, slots=True)
class ServerInfo:
    name: str
    version: str
    environment: str
    time: datetime


class ServerInfoService:
    def __init__(self, *, name: str, version: str, environment: str, clock: Clock) -> None:
        self._name = name
        self._version = version
        self._environment = environment
        self._clock = clock

    def current(self) -> ServerInfo:
        return ServerInfo(self._name, self._version, self._environment, self._clock.now())
