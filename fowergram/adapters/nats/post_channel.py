"""The per-post live channel on core NATS: `<prefix>.post.<id>`, one orjson message each.

Core NATS, not JetStream: live activity is at most once; a client that missed a message
reads the post again (ARCHITECTURE: delivery guarantees)."""

from __future__ import annotations

from typing import Any

import orjson
from nats.aio.client import Client as NATS


def post_subject(prefix: str, post_id: int) -> str:
    return f"{prefix}.post.{post_id}"


class NatsPostChannel:
    def __init__(self, nc: NATS, *, subject_prefix: str) -> None:
        self._nc = nc
        self._prefix = subject_prefix

    async def to_post(self, post_id: int, message: dict[str, Any]) -> None:
        await self._nc.publish(post_subject(self._prefix, post_id), orjson.dumps(message))
