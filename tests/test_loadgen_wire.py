"""The benchmark's own client counts every server frame however the reads split them:
its figures (deliveries = events x watchers) are only as true as this count."""

from __future__ import annotations

import orjson

from fowergram.realtime.text_frames import text_frame_header
from loadtests.ws_wire import Stats, WsClient


def _frame(message: dict[str, object]) -> bytes:
    payload = orjson.dumps(message)
    return text_frame_header(len(payload)) + payload


DELIVERY = _frame({"id": "n", "type": "next", "payload": {"data": {"n": 1}}})
LONG_DELIVERY = _frame(
    {"id": "n", "type": "next", "payload": {"data": {"text": "x" * 300}}}  # 126-length form
)
ACK = _frame({"type": "connection_ack"})
STREAM = DELIVERY + LONG_DELIVERY + ACK + DELIVERY


async def _client() -> tuple[WsClient, Stats]:
    stats = Stats(sample_every=1_000_000)
    client = WsClient(stats, "localhost")
    client._handshaken = client.open = True  # past the upgrade: frames from here on
    return client, stats


async def test_frames_in_one_read_are_all_counted() -> None:
    client, stats = await _client()

    client.data_received(STREAM)

    assert (stats.frames, stats.deliveries) == (4, 3)
    assert client.acked is not None
    assert client.acked.done()


async def test_frames_split_at_every_byte_are_counted_once() -> None:
    for cut in range(1, len(STREAM)):
        client, stats = await _client()

        client.data_received(STREAM[:cut])
        client.data_received(STREAM[cut:])

        assert (stats.frames, stats.deliveries) == (4, 3), cut


async def test_a_stream_fed_byte_by_byte_is_counted_once() -> None:
    client, stats = await _client()

    for index in range(len(STREAM)):
        client.data_received(STREAM[index : index + 1])

    assert (stats.frames, stats.deliveries) == (4, 3)
