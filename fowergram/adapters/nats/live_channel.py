"""The per-user live channel on core NATS: `<prefix>.user.<id>`, one orjson message each.

Core NATS, not JetStream: a live push is at most once; a client that was away resumes
from PostgreSQL by id (ARCHITECTURE: delivery guarantees)."""

from __future__ import annotations

from typing import Any

import orjson
from nats.aio.client import Client as NATS

from fowergram.adapters.nats.session_events import user_subject


class NatsLiveChannel:
    def __init__(self, nc: NATS, *, subject_prefix: str) -> None:
        self._nc = nc
        self._prefix = subject_prefix

    async def to_user(self, user_id: int, message: dict[str, Any]) -> None:
        await self._nc.publish(user_subject(self._prefix, user_id), orjson.dumps(message))
