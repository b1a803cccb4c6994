"""A subscription's live feed is bounded: below its bound every message is kept, in
order; one more and the socket is closed as a slow consumer instead of buffering.

Messages arrive as in production, through the socket's channel fan-out
(`Connection.deliver`), on a connection whose transport records what it was given."""

from __future__ import annotations

import orjson
from support.recording_wire import RecordingWire

from fowergram.observability.metrics import Metrics
from fowergram.realtime.connection import Connection, OutboundLimits
from fowergram.realtime.live_feed import LiveFeed
from fowergram.realtime.protocol import TRANSPORT_WS, Close, Dialect

BOUND = 4
SLOW = "fowergram_websocket_slow_consumers_total"


def _connection(wire: RecordingWire, metrics: Metrics) -> Connection:
    # on_slow wired as the endpoint wires it: the slow-consumer counter.
    return Connection(
        "c1",
        Dialect(TRANSPORT_WS),
        wire,
        OutboundLimits(feed_frames=BOUND),
        now=0.0,
        on_slow=metrics.ws_slow_consumers.inc,
    )


def _deliver(connection: Connection, numbers: range) -> None:
    for n in numbers:
        connection.deliver("post:1", orjson.dumps({"type": "post.liked", "n": n}))


async def _read(feed: LiveFeed, count: int) -> list[int]:
    """The next `count` messages' numbers, read as a subscription reads its feed."""
    messages = aiter(feed)
    return [(await anext(messages))["n"] for _ in range(count)]


def _slow_consumers(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value(SLOW) or 0.0


async def test_a_feed_up_to_its_bound_keeps_every_message_in_order() -> None:
    wire, metrics = RecordingWire(), Metrics()
    connection = _connection(wire, metrics)
    feed = connection.open_feed("post.liked")
    other = connection.open_feed("post.commented")  # another type: not routed here

    _deliver(connection, range(BOUND))  # exactly full
    assert await _read(feed, BOUND) == list(range(BOUND))
    # The bound is on what waits unread, not on the total: read, it holds BOUND more.
    _deliver(connection, range(BOUND, 2 * BOUND))
    assert [message["n"] for message in feed.take_pending()] == list(range(BOUND, 2 * BOUND))

    assert other.take_pending() == []
    assert connection.closing is None
    assert wire.closes == []
    assert _slow_consumers(metrics) == 0
    await connection.finish()


async def test_one_message_past_the_bound_closes_the_socket_as_a_slow_consumer() -> None:
    wire, metrics = RecordingWire(), Metrics()
    connection = _connection(wire, metrics)
    feed = connection.open_feed("post.liked")

    _deliver(connection, range(BOUND + 1))
    reason = "slow consumer: too many frames pending"
    assert connection.closing == (Close.SLOW_CONSUMER, reason)
    assert wire.closes == [(4429, reason)]
    assert _slow_consumers(metrics) == 1
    # The feed did not grow: the subscription reads what fitted, then its feed ends.
    assert [message["n"] async for message in feed] == list(range(BOUND))

    _deliver(connection, range(BOUND + 1, 2 * BOUND))  # after the close: ignored
    assert feed.take_pending() == []
    assert wire.closes == [(4429, reason)]  # closed and counted once
    assert _slow_consumers(metrics) == 1
    await connection.finish()
