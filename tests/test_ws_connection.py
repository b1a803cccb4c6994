"""A socket's bounded outbox: a client that stops reading is closed, never buffered for."""

from __future__ import annotations

import asyncio
from typing import Any

from fowergram.realtime.connection import Connection, OutboundLimits
from fowergram.realtime.protocol import TRANSPORT_WS, Close, Dialect


class StuckClient:
    """An ASGI `send` whose client stops reading after `reads` frames."""

    def __init__(self, reads: int) -> None:
        self.reads = reads
        self.sent: list[dict[str, Any]] = []
        self.unstuck = asyncio.Event()

    async def __call__(self, message: dict[str, Any]) -> None:
        if len(self.sent) >= self.reads:
            await self.unstuck.wait()
        self.sent.append(message)


def _connection(send: StuckClient, slow: list[int], limits: OutboundLimits) -> Connection:
    return Connection(
        "c1",
        Dialect(TRANSPORT_WS),
        send,
        limits,
        now=0.0,
        on_slow=lambda: slow.append(1),
    )


async def test_a_client_that_stops_reading_is_closed_as_slow_once() -> None:
    client, slow = StuckClient(reads=2), []
    connection = _connection(client, slow, OutboundLimits(max_frames=4, max_bytes=10_000))
    connection.start()
    for n in range(20):
        connection.push(f'{{"n":{n}}}')
        await asyncio.sleep(0)
    assert connection.closing == (Close.SLOW_CONSUMER, "slow consumer: too many frames pending")
    assert slow == [1]
    client.unstuck.set()
    await asyncio.sleep(0.01)
    # What the client had read, then the close: neither the frame it was stuck on nor
    # the queued ones.
    assert [m["type"] for m in client.sent] == ["websocket.send"] * 2 + ["websocket.close"]
    assert client.sent[-1]["code"] == 4429
    await connection.finish()


async def test_the_byte_bound_counts_too() -> None:
    client, slow = StuckClient(reads=0), []
    connection = _connection(client, slow, OutboundLimits(max_frames=1000, max_bytes=100))
    connection.start()
    await asyncio.sleep(0)
    connection.push("x" * 60)  # in flight, stuck
    connection.push("y" * 60)  # queued: 60 bytes
    assert connection.closing is None
    connection.push("z" * 60)  # queued: 120 bytes, over the bound
    assert connection.closing is not None
    assert connection.closing[0] == Close.SLOW_CONSUMER
    await connection.finish()


async def test_an_orderly_close_sends_what_was_queued_first() -> None:
    client, slow = StuckClient(reads=100), []
    connection = _connection(client, slow, OutboundLimits())
    connection.start()
    connection.push('{"type":"error"}')
    connection.close(Close.BAD_REQUEST, "bad")
    connection.push('{"type":"late"}')  # after the close: dropped
    await asyncio.sleep(0.01)
    assert client.sent == [
        {"type": "websocket.send", "text": '{"type":"error"}'},
        {"type": "websocket.close", "code": 4400, "reason": "bad"},
    ]
    assert slow == []
    await connection.finish()


async def test_a_client_that_never_takes_the_close_frame_is_dropped() -> None:
    client, slow = StuckClient(reads=0), []

    async def handler() -> None:
        connection = _connection(client, slow, OutboundLimits(max_frames=1))
        connection.start()
        await asyncio.sleep(0)
        connection.push("1")  # in flight, stuck
        connection.push("2")  # queued
        connection.push("3")  # over the bound: closing, and the close cannot be sent
        await asyncio.sleep(60)

    task = asyncio.create_task(handler())
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done
    assert task.cancelled()  # the socket's handler was ended (uvicorn then drops it)
    assert slow == [1]


async def test_revocation_of_its_session_closes_the_socket() -> None:
    from fowergram.domain.auth.viewer import Role, Viewer

    client, slow = StuckClient(reads=100), []
    connection = _connection(client, slow, OutboundLimits())
    connection.viewer = Viewer(user_id=5, session_id="s-1", role=Role.USER)
    connection.start()
    feed = connection.open_feed("notification")
    connection.deliver("fg.user.5", b'{"type":"session.revoked","sessionIds":["s-2"]}')
    connection.deliver("fg.user.5", b'{"type":"notification","n":1}')
    connection.deliver("fg.user.5", b"not json")
    assert connection.closing is None
    connection.deliver("fg.user.5", '{"type":"session.revoked","sessionIds":["s-1","s-3"]}')
    assert connection.closing == (Close.FORBIDDEN, "session revoked")
    received = [message async for message in feed]
    assert received == [{"type": "notification", "n": 1, "channel": "fg.user.5"}]
    await connection.finish()


async def test_frames_behind_a_send_that_had_to_wait_go_out_in_order() -> None:
    client, slow = StuckClient(reads=1), []
    connection = _connection(client, slow, OutboundLimits(max_frames=10))
    connection.start()
    for n in range(6):  # the first goes at once, the second waits, the rest queue
        connection.push(str(n))
    client.unstuck.set()
    await asyncio.sleep(0.01)
    assert [m["text"] for m in client.sent] == ["0", "1", "2", "3", "4", "5"]
    connection.push("6")  # nothing pending any more: straight out again
    assert client.sent[-1]["text"] == "6"
    assert connection.closing is None
    await connection.finish()
