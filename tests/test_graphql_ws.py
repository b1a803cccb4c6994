"""Subscriptions over a real WebSocket, both protocols, against a real uvicorn."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from support.live_server import LiveServer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")


async def _send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), 5)
    # Text frames: browsers' graphql-ws clients reject binary ones.
    assert isinstance(frame, str), f"binary frame: {frame!r}"
    message: dict[str, Any] = orjson.loads(frame)
    return message


async def test_transport_ws_subscription_streams_and_completes(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        assert ws.subprotocol == TRANSPORT_WS
        await _send(ws, {"type": "connection_init", "payload": {}})
        assert (await _receive(ws))["type"] == "connection_ack"
        await _send(
            ws,
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "subscription { ticks(every: 10, count: 3) }"},
            },
        )
        frames = [await _receive(ws) for _ in range(4)]
    assert [f["type"] for f in frames] == ["next", "next", "next", "complete"]
    assert [f["payload"]["data"]["ticks"] for f in frames[:3]] == [1, 2, 3]
    assert {f["id"] for f in frames} == {"1"}


async def test_transport_ws_bad_argument_is_a_typed_error(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await _send(ws, {"type": "connection_init"})
        await _receive(ws)
        await _send(
            ws,
            {
                "id": "x",
                "type": "subscribe",
                "payload": {"query": "subscription { ticks(every: 1) }"},
            },
        )
        frame = await _receive(ws)
    errors = frame["payload"] if frame["type"] == "error" else frame["payload"]["errors"]
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "every"}


async def test_transport_ws_client_can_stop_a_subscription(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await _send(ws, {"type": "connection_init"})
        await _receive(ws)
        query = {"query": "subscription { ticks(every: 10) }"}
        await _send(ws, {"id": "s", "type": "subscribe", "payload": query})
        assert (await _receive(ws))["type"] == "next"
        await _send(ws, {"id": "s", "type": "complete"})
        await _send(ws, {"type": "ping"})
        # After the pong, no more ticks for the completed subscription arrive.
        while (frame := await _receive(ws))["type"] != "pong":
            assert frame["type"] == "next"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)


async def test_legacy_graphql_ws_subscription(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=[LEGACY_WS]) as ws:
        assert ws.subprotocol == LEGACY_WS
        await _send(ws, {"type": "connection_init", "payload": {}})
        assert (await _receive(ws))["type"] == "connection_ack"
        await _send(
            ws,
            {
                "id": "7",
                "type": "start",
                "payload": {"query": "subscription { ticks(every: 10, count: 2) }"},
            },
        )
        frames: list[dict[str, Any]] = []
        while len(frames) < 3:
            frame = await _receive(ws)
            if frame["type"] != "ka":  # keep-alive frames may interleave
                frames.append(frame)
    assert [f["type"] for f in frames] == ["data", "data", "complete"]
    assert [f["payload"]["data"]["ticks"] for f in frames[:2]] == [1, 2]


async def test_query_over_websocket(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await _send(ws, {"type": "connection_init"})
        await _receive(ws)
        await _send(
            ws, {"id": "q", "type": "subscribe", "payload": {"query": "{ serverInfo { version } }"}}
        )
        first, second = await _receive(ws), await _receive(ws)
    assert first["payload"] == {"data": {"serverInfo": {"version": "1.0.0"}}}
    assert second["type"] == "complete"


async def test_missing_connection_init_closes_with_4408(live_server: LiveServer) -> None:
    # The shared server uses a 0.5 s connection_init timeout.
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408


async def test_subscribe_before_init_closes_with_4401(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await _send(
            ws, {"id": "1", "type": "subscribe", "payload": {"query": "subscription { ticks }"}}
        )
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_malformed_message_closes_with_4400(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await ws.send("{this is not json")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400


async def test_unknown_subprotocol_closes_with_4406(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=[Subprotocol("chat")]) as ws:
        assert ws.subprotocol is None
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406
