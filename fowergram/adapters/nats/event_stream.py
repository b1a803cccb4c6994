"""The JetStream stream of domain events: `<PREFIX>_EVENTS` on `<prefix>.evt.<kind>`.

Each event carries its outbox id as `Nats-Msg-Id`, so a re-publication inside the
duplicate window (a relay that crashed before marking the row) is stored once.

A batch is sent whole, then its acknowledgements are awaited together: one round trip
a batch instead of one an event (under HTTP load each round trip waited a turn of the
busy event loop: ~3-5 ms, so a batch of 100 took 0.3-0.5 s and the relay fell behind the
writes). Sent in order on one connection, the events are stored in order; an event
the stream refuses on its own (not an outage: that stops everything after it too) can
end up after later ones of its batch when it is published again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
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
    return kept_stream_config(stream_name(prefix), event_subject(prefix, ">"), max_age_s=max_age_s)


def kept_stream_config(name: str, subjects: str, *, max_age_s: float) -> StreamConfig:
    """A stream on disk that keeps messages for `max_age_s` (oldest dropped first) and
    drops a republished message id within the duplicate window: the events' and the
    dead letters' alike."""
    return StreamConfig(
        name=name,
        subjects=[subjects],
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
    """Publishes recorded events and waits for the stream's acknowledgements."""

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

    async def publish_all(self, events: Sequence[RecordedEvent]) -> list[Exception | None]:
        """Send every event, then wait for each acknowledgement: one outcome per event, in
        order (None: stored). Raises when not connected."""
        # While disconnected nats-py would buffer the requests and time out: fail fast
        # instead, and let the relay back off.
        self._check_connected()
        # One request each, all started before any answer is awaited: each task writes its
        # message at its first step, in the order they were made. (nats-py's
        # `publish_async` would do it with fewer objects, but a refusal never reaches its
        # future: its reply handler raises the error instead of setting it.)
        outcomes = await asyncio.gather(
            *(self._publish(event) for event in events), return_exceptions=True
        )
        return [_outcome(outcome) for outcome in outcomes]

    async def publish(self, event: RecordedEvent) -> None:
        """One event, acknowledged; raises otherwise."""
        self._check_connected()
        await self._publish(event)

    async def _publish(self, event: RecordedEvent) -> None:
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


def _outcome(outcome: BaseException | None) -> Exception | None:
    if outcome is None or isinstance(outcome, Exception):
        return outcome
    # A request cancelled on its own (the batch was not: `gather` would have raised).
    return RuntimeError(f"publication interrupted: {outcome!r}")
