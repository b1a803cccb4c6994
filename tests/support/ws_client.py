"""A test's side of a GraphQL socket: send, receive, and how it was closed."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from support.auth_helpers import async_http_client, new_person, session_of

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def receive(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), f"binary frame: {frame!r}"
    message: dict[str, Any] = orjson.loads(frame)
    return message


async def receive_skipping_pings(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    while (message := await receive(ws, timeout))["type"] in ("ping", "ka"):
        pass
    return message


async def closed_with(ws: ClientConnection, timeout: float = 5) -> int:
    """Read until the server closes; the close code it sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        frame = closed.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code


async def init(ws: ClientConnection, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    await send(ws, {"type": "connection_init", "payload": payload or {}})
    ack = await receive(ws)
    assert ack["type"] == "connection_ack", ack
    return ack


async def subscribe(ws: ClientConnection, op_id: str, query: str, **variables: Any) -> None:
    payload = {"query": query, "variables": variables or None}
    await send(ws, {"id": op_id, "type": "subscribe", "payload": payload})


async def signed_up(http_url: str) -> dict[str, Any]:
    async with async_http_client(http_url) as client:
        response = await client.post("/auth/signup", json=new_person().sign_up_body())
    return session_of(response, 201)


def bearer_init(session: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {session['accessToken']}"}
