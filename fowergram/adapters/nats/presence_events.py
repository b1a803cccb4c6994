"""Presence transitions on core NATS: `<prefix>.presence.<user_id>`, one message per change.

Core, not JetStream: a transition is only news while it is fresh, and a subscriber that
missed one reads the snapshot again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from nats.aio.client import Client as NATS

from fowergram.domain.presence import PresenceState, Status


def presence_subject(prefix: str, user_id: int | str) -> str:
    """`user_id` may be "*" to listen to everyone's."""
    return f"{prefix}.presence.{user_id}"


def encode_presence(state: PresenceState) -> bytes:
    return orjson.dumps(
        {
            "type": "presence",
            "userId": state.user_id,
            "status": state.status.value,
            "lastSeenAt": state.last_seen_at,
        }
    )


def decode_presence(data: bytes) -> PresenceState:
    fields: dict[str, Any] = orjson.loads(data)
    seen = fields["lastSeenAt"]
    return PresenceState(
        user_id=int(fields["userId"]),
        status=Status(fields["status"]),
        last_seen_at=datetime.fromisoformat(seen) if seen is not None else None,
    )


class NatsPresenceEvents:
    def __init__(self, nc: NATS, *, subject_prefix: str) -> None:
        self._nc = nc
        self._prefix = subject_prefix

    async def publish(self, state: PresenceState) -> None:
        await self._nc.publish(
            presence_subject(self._prefix, state.user_id), encode_presence(state)
        )
