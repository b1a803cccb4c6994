from __future__ import annotations

from datetime import datetime

import strawberry

from fowergram.domain.server_info import ServerInfo


@strawberry.type(name="ServerInfo", description="The server answering this request.")
class ServerInfoType:
    name: str
    version: str
    environment: str
    time: datetime

    @classmethod
    def from_domain(cls, info: ServerInfo) -> ServerInfoType:
        return cls(
            name=info.name, version=info.version, environment=info.environment, time=info.time
        )
