"""A durable JetStream pull consumer of the event stream, and the dead-letter stream.

The consumer `<name>` on `<PREFIX>_EVENTS` takes `<prefix>.evt.<kind>` for its handler's
kinds, acknowledged one by one. Dead letters go to `<prefix>.dlq.<name>` in the stream
`<PREFIX>_DLQ`: the original bytes, with headers saying where they came from and why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError

from fowergram.adapters.nats.connection import NatsUnavailable
from fowergram.adapters.nats.event_stream import (
    MSG_ID,
    STREAM_NAME_IN_USE,
    decode_event,
    event_subject,
    kept_stream_config,
    stream_config,
    stream_name,
)
from fowergram.domain.events import RecordedEvent

# Dead-letter headers.
DLQ_CONSUMER = "Fg-Consumer"
DLQ_SUBJECT = "Fg-Subject"  # the subject the event was published on
DLQ_STREAM_SEQ = "Fg-Stream-Seq"  # its sequence in <PREFIX>_EVENTS
DLQ_DELIVERIES = "Fg-Deliveries"
DLQ_EVENT_ID = "Fg-Event-Id"  # absent when the message could not be decoded
DLQ_ERROR = "Fg-Error"
ERROR_HEADER_MAX = 500

# The server's own redelivery limit is off: the consumer counts deliveries itself and
# dead-letters past its limit, so a message whose last delivery went unsettled (a crash,
# or a dead letter that could not be written) comes back once more instead of being
# silently dropped by the server.
SERVER_MAX_DELIVER = -1


def dlq_stream_name(prefix: str) -> str:
    return f"{prefix.upper()}_DLQ"


def dlq_subject(prefix: str, consumer: str) -> str:
    return f"{prefix}.dlq.{consumer}"


def dlq_stream_config(prefix: str, *, max_age_s: float) -> StreamConfig:
    return kept_stream_config(
        dlq_stream_name(prefix), dlq_subject(prefix, ">"), max_age_s=max_age_s
    )


def consumer_config(
    prefix: str, name: str, kinds: Iterable[str], *, ack_wait_s: float
) -> ConsumerConfig:
    return ConsumerConfig(
        name=name,
        durable_name=name,
        deliver_policy=DeliverPolicy.ALL,  # a new consumer starts at the stream's first event
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=SERVER_MAX_DELIVER,
        filter_subjects=sorted(event_subject(prefix, kind) for kind in kinds),
    )


async def _add_or_update(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
        await js.update_stream(config)


class JetStreamDelivery:
    __slots__ = ("_event", "_msg", "_source")

    def __init__(self, msg: Msg, source: DurableEventConsumer) -> None:
        self._msg = msg
        self._source = source
        self._event: RecordedEvent | None = None

    @property
    def deliveries(self) -> int:
        return self._msg.metadata.num_delivered

    def event(self) -> RecordedEvent:
        """Decoded once: the consumer reads it for the event's lane, then to handle it."""
        if self._event is None:
            self._event = decode_event(self._msg.data)
        return self._event

    async def ack(self) -> None:
        await self._msg.ack()

    async def retry(self, delay_s: float) -> None:
        await self._msg.nak(delay=delay_s)

    async def keep_alive(self) -> None:
        await self._msg.in_progress()

    async def dead_letter(self, error: str, event_id: int | None) -> None:
        await self._source.publish_dead_letter(self._msg, error, event_id)
        await self._msg.term()


class DurableEventConsumer:
    """The `EventSource` of one named consumer (see fowergram.realtime.consumers)."""

    def __init__(
        self,
        nc: NATS,
        *,
        subject_prefix: str,
        name: str,
        kinds: Iterable[str],
        ack_wait_s: float,
        stream_max_age_s: float,
        api_timeout_s: float = 5.0,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=api_timeout_s)
        self._prefix = subject_prefix
        self._name = name
        self._stream = stream_name(subject_prefix)
        self._stream_config = stream_config(subject_prefix, max_age_s=stream_max_age_s)
        self._dlq_config = dlq_stream_config(subject_prefix, max_age_s=stream_max_age_s)
        self._config = consumer_config(subject_prefix, name, kinds, ack_wait_s=ack_wait_s)
        self._api_timeout_s = api_timeout_s
        self._sub: JetStreamContext.PullSubscription | None = None

    async def open(self) -> None:
        self._check_connected()
        await self._unsubscribe()
        try:
            await self._js.stream_info(self._stream)
        except NotFoundError:  # the relay has not created it yet (or NATS lost its store)
            await _add_or_update(self._js, self._stream_config)
        await _add_or_update(self._js, self._dlq_config)
        # Creates the consumer, or updates it (e.g. to a handler's new kinds); where it
        # stands in the stream is kept.
        await self._js.add_consumer(self._stream, self._config)
        self._sub = await self._js.pull_subscribe_bind(durable=self._name, stream=self._stream)

    async def fetch(self, batch: int, wait_s: float) -> Sequence[JetStreamDelivery]:
        # While disconnected a pull would only time out: report the outage instead.
        self._check_connected()
        if self._sub is None:
            raise NatsUnavailable("consumer not open")
        try:
            messages = await self._sub.fetch(batch, timeout=wait_s)
        except TimeoutError:
            return []
        return [JetStreamDelivery(message, self) for message in messages]

    async def close(self) -> None:
        await self._unsubscribe()
        if self._nc.is_connected:  # the last acknowledgements reach the server now
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=2)

    async def publish_dead_letter(self, msg: Msg, error: str, event_id: int | None) -> None:
        self._check_connected()
        metadata = msg.metadata
        headers = {
            DLQ_CONSUMER: self._name,
            DLQ_SUBJECT: msg.subject,
            DLQ_STREAM_SEQ: str(metadata.sequence.stream),
            DLQ_DELIVERIES: str(metadata.num_delivered),
            # Header values are one line.
            DLQ_ERROR: " ".join(error.split())[:ERROR_HEADER_MAX],
            # A dead letter written twice (crash before the termination) is stored once.
            MSG_ID: f"{self._name}:{metadata.sequence.stream}",
        }
        if event_id is not None:
            headers[DLQ_EVENT_ID] = str(event_id)
        await self._js.publish(
            dlq_subject(self._prefix, self._name),
            msg.data,
            timeout=self._api_timeout_s,
            stream=self._dlq_config.name,
            headers=headers,
        )

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def _check_connected(self) -> None:
        if not self._nc.is_connected:
            raise NatsUnavailable("not connected to NATS")
