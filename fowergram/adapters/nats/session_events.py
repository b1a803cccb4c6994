"""Tells every instance's hub that sessions ended, on the user's live channel."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from nats.aio.client import Client as NATS


def user_subject(prefix: str, user_id: int) -> str:
    return f"{prefix}.user.{user_id}"


class NatsSessionEvents:
    def __init__(self, nc: NATS, *, subject_prefix: str) -> None:
        self._nc = nc
        self._prefix = subject_prefix

    async def sessions_revoked(self, user_id: int, session_ids: Sequence[str]) -> None:
        message = {"type": "session.revoked", "sessionIds": list(session_ids)}
        await self._nc.publish(user_subject(self._prefix, user_id), orjson.dumps(message))
