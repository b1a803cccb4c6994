"""A socket's bounded outbox, and each subscription's bounded live feed: a client that
stops reading is closed, never buffered for.

The connection writes to its transport (`Wire`); here a recording one whose buffer the
test fills and drains, as asyncio's transport does around its high-water mark. The same
through a real server and a client that stops reading: test_ws_outages.py."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from support.recording_wire import RecordingWire
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from fowergram.domain.auth.viewer import Role, Viewer
from fowergram.realtime.connection import Connection, OutboundLimits
from fowergram.realtime.live_feed import LiveFeed
from fowergram.realtime.protocol import TRANSPORT_WS, Close, Dialect
from fowergram.realtime.text_frames import text_frame_header


def _connection(wire: RecordingWire, slow: list[int], limits: OutboundLimits) -> Connection:
    return Connection(
        "c1", Dialect(TRANSPORT_WS), wire, limits, now=0.0, on_slow=lambda: slow.append(1)
    )


async def test_a_client_that_stops_reading_is_closed_as_slow_once() -> None:
    wire = RecordingWire()
    slow: list[int] = []
    connection = _connection(wire, slow, OutboundLimits(max_frames=4, max_bytes=10_000))
    connection.push('{"n":0}')
    wire.paused = True  # the transport went over its high-water mark
    for n in range(1, 20):
        connection.push(f'{{"n":{n}}}')
    assert connection.closing == (Close.SLOW_CONSUMER, "slow consumer: too many frames pending")
    assert slow == [1]
    # Four frames over the mark are allowed, the fifth closes: nothing after it is written.
    assert len(wire.frames) == 6
    assert wire.closes == [(4429, "slow consumer: too many frames pending")]
    await connection.finish()


async def test_the_byte_bound_counts_too() -> None:
    wire = RecordingWire()
    slow: list[int] = []
    connection = _connection(wire, slow, OutboundLimits(max_frames=1000, max_bytes=100))
    wire.paused = True
    connection.push("x" * 60)
    assert connection.closing is None
    connection.push("y" * 60)  # 120 bytes buffered: over the bound
    assert connection.closing is not None
    assert connection.closing[0] == Close.SLOW_CONSUMER
    await connection.finish()


async def test_a_client_that_catches_up_starts_from_zero_again() -> None:
    wire = RecordingWire()
    slow: list[int] = []
    connection = _connection(wire, slow, OutboundLimits(max_frames=3, max_bytes=10_000))
    for _ in range(5):
        wire.paused = True
        for _ in range(3):
            connection.push("{}")
        wire.paused, wire.buffered = False, 0
        connection.writable()  # the transport drained below its low-water mark
    assert connection.closing is None
    assert slow == []
    await connection.finish()


async def test_an_orderly_close_comes_after_what_was_sent_and_nothing_follows() -> None:
    wire = RecordingWire()
    slow: list[int] = []
    connection = _connection(wire, slow, OutboundLimits())
    connection.push('{"type":"error"}')
    connection.close(Close.BAD_REQUEST, "bad")
    connection.push('{"type":"late"}')
    connection.close(Close.NORMAL)  # a second close changes nothing
    assert wire.frames == [b'{"type":"error"}']
    assert wire.closes == [(4400, "bad")]
    assert slow == []
    await connection.finish()


async def test_a_client_that_never_takes_the_close_frame_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("fowergram.realtime.connection.CLOSE_TIMEOUT_S", 0.05)
    wire = RecordingWire()
    slow: list[int] = []
    connection = _connection(wire, slow, OutboundLimits())
    connection.close(Close.SERVICE_RESTART, "server restarting")
    await asyncio.sleep(0.1)
    assert wire.aborted


async def test_a_socket_whose_transport_went_away_is_not_aborted_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("fowergram.realtime.connection.CLOSE_TIMEOUT_S", 0.05)
    wire = RecordingWire()
    slow: list[int] = []
    connection = _connection(wire, slow, OutboundLimits())
    connection.close(Close.NORMAL)
    connection.lost()  # the client answered the close; the transport closed
    await asyncio.sleep(0.1)
    assert not wire.aborted
    await connection.finish()


async def test_revocation_of_its_session_closes_the_socket() -> None:
    wire = RecordingWire()
    slow: list[int] = []
    connection = _connection(wire, slow, OutboundLimits())
    connection.viewer = Viewer(user_id=5, session_id="s-1", role=Role.USER)
    feed = connection.open_feed("notification")
    connection.deliver("fg.user.5", b'{"type":"session.revoked","sessionIds":["s-2"]}')
    connection.deliver("fg.user.5", b'{"type":"notification","n":1}')
    connection.deliver("fg.user.5", b"not json")
    assert connection.closing is None
    connection.deliver("fg.user.5", '{"type":"session.revoked","sessionIds":["s-1","s-3"]}')
    assert connection.closing == (Close.FORBIDDEN, "session revoked")
    assert wire.closes == [(4403, "session revoked")]
    received = [message async for message in feed]
    assert received == [{"type": "notification", "n": 1, "channel": "fg.user.5"}]
    await connection.finish()


async def test_a_legacy_client_is_also_pinged_at_the_websocket_level() -> None:
    wire = RecordingWire()
    slow: list[int] = []
    legacy = Connection(
        "c2", Dialect("graphql-ws"), wire, OutboundLimits(), now=0.0, on_slow=lambda: None
    )
    legacy.ping()
    current = _connection(wire, slow, OutboundLimits())
    current.ping()
    assert wire.frames == [b'{"type":"ka"}', b'{"type":"ping"}']
    assert wire.pings == 1  # graphql-ws has no answer to "ka": a WebSocket ping has one
    await legacy.finish()
    await current.finish()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_frames_written_by_hand_parse_as_websocket_text_frames(size: int) -> None:
    payload = b"a" * size
    reader = StreamReader()
    reader.feed_data(text_frame_header(size) + payload)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    try:
        next(parser)
        while True:
            parser.send(None)
    except StopIteration as done:
        frame = done.value
    assert frame.opcode is Opcode.TEXT
    assert frame.fin
    assert frame.data == payload


FEED_BOUND = 4
SLOW_REASON = "slow consumer: too many frames pending"


def _deliver_likes(connection: Connection, numbers: range) -> None:
    """Through the socket's channel fan-out, as the channels deliver in production."""
    for n in numbers:
        connection.deliver("post:1", orjson.dumps({"type": "post.liked", "n": n}))


async def _read(feed: LiveFeed, count: int) -> list[int]:
    """The next `count` messages' numbers, read as a subscription reads its feed."""
    messages = aiter(feed)
    return [(await asyncio.wait_for(anext(messages), 5))["n"] for _ in range(count)]


async def test_a_feed_up_to_its_bound_keeps_every_message_in_order() -> None:
    wire, slow = RecordingWire(), list[int]()
    connection = _connection(wire, slow, OutboundLimits(feed_frames=FEED_BOUND))
    feed = connection.open_feed("post.liked")
    other = connection.open_feed("post.commented")  # another type: not routed here

    _deliver_likes(connection, range(FEED_BOUND))  # exactly full
    assert await _read(feed, FEED_BOUND) == list(range(FEED_BOUND))
    # The bound is on what waits unread, not on the total: read, it holds as many again.
    _deliver_likes(connection, range(FEED_BOUND, 2 * FEED_BOUND))
    assert [m["n"] for m in feed.take_pending()] == list(range(FEED_BOUND, 2 * FEED_BOUND))

    assert other.take_pending() == []
    assert connection.closing is None
    assert wire.closes == []
    assert slow == []
    await connection.finish()


async def test_one_message_past_a_feeds_bound_closes_the_socket_as_a_slow_consumer() -> None:
    wire, slow = RecordingWire(), list[int]()
    connection = _connection(wire, slow, OutboundLimits(feed_frames=FEED_BOUND))
    feed = connection.open_feed("post.liked")

    _deliver_likes(connection, range(FEED_BOUND + 1))
    assert connection.closing == (Close.SLOW_CONSUMER, SLOW_REASON)
    assert wire.closes == [(4429, SLOW_REASON)]
    assert slow == [1]
    # The feed did not grow: the subscription reads what fitted, then its feed ends.
    assert [message["n"] async for message in feed] == list(range(FEED_BOUND))

    _deliver_likes(connection, range(FEED_BOUND + 1, 2 * FEED_BOUND))  # after the close
    assert feed.take_pending() == []
    assert wire.closes == [(4429, SLOW_REASON)]  # closed and counted once
    assert slow == [1]
    await connection.finish()
