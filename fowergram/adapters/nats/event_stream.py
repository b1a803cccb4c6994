"""The JetStream stream of domain events: `<PREFIX>_EVENTS` on `<prefix>.evt.<kind>`.

Each event carries its outbox id as `Nats-Msg-Id`, so a re-publication inside the
duplicate window (a relay that crashed before marking the row) is stored once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from fowergram.adapters.nats.connection import NatsUnavailable
from fowergram.domain.events import RecordedEvent

DUPLICATE_WINDOW_S = 5 * 60
STREAM_NAME_IN_USE = 10058  # JetStream: exists with a different configuration
MSG_ID = "Nats-Msg-Id"


def stream_name(prefix: str) -> str:
    return f"{prefix.upper()}_EVENTS"


def event_subject(prefix: str, kind: str) -> str:
    return f"{prefix}.evt.{kind}"


def stream_config(prefix: str, *, max_age_s: float) -> StreamConfig:
    return StreamConfig(
        name=stream_name(prefix),
        subjects=[event_subject(prefix, ">")],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age_s,
        duplicate_window=DUPLICATE_WINDOW_S,
    )


def encode_event(event: RecordedEvent) -> bytes:
    return orjson.dumps(
        {
            "id": event.id,
            "kind": event.kind,
            "aggregateId": event.aggregate_id,
            "payload": event.payload,
            "createdAt": event.created_at,
        }
    )


def decode_event(data: bytes) -> RecordedEvent:
    fields: dict[str, Any] = orjson.loads(data)
    return RecordedEvent(
        id=fields["id"],
        kind=fields["kind"],
        aggregate_id=fields["aggregateId"],
        payload=fields["payload"],
        created_at=datetime.fromisoformat(fields["createdAt"]),
    )


class JetStreamEvents:
    """Publishes recorded events and waits for the stream's acknowledgement."""

    def __init__(
        self, nc: NATS, *, subject_prefix: str, max_age_s: float, ack_timeout_s: float = 5.0
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=ack_timeout_s)
        self._prefix = subject_prefix
        self._config = stream_config(subject_prefix, max_age_s=max_age_s)
        self._ack_timeout_s = ack_timeout_s

    async def ensure_stream(self) -> None:
        """Create the stream, or bring an existing one to our configuration."""
        self._check_connected()
        try:
            await self._js.add_stream(self._config)
        except BadRequestError as exc:
            if exc.err_code != STREAM_NAME_IN_USE:
                raise
            await self._js.update_stream(self._config)

    async def publish(self, event: RecordedEvent) -> None:
        # While disconnected nats-py would buffer the request and time out: fail fast
        # instead, and let the relay back off.
        self._check_connected()
        await self._js.publish(
            event_subject(self._prefix, event.kind),
            encode_event(event),
            timeout=self._ack_timeout_s,
            stream=self._config.name,
            headers={MSG_ID: str(event.id)},
        )

    def _check_connected(self) -> None:
        if not self._nc.is_connected:
            raise NatsUnavailable("not connected to NATS")
