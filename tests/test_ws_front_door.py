"""Each connection's first bytes choose its protocol: a whole WebSocket upgrade to /graphql
goes straight to the hub, everything else to uvicorn's HTTP protocol (through a real
server and raw sockets, so that what arrives in which write is ours to choose)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import orjson
import pytest
from conftest import make_settings
from support.live_server import LiveServer
from support.raw_ws import UPGRADE_HEAD, masked_text_frame, text_payload
from support.services import ServiceUrls

from fowergram.app import create_app
from fowergram.realtime.front_door import MAX_HEAD_BYTES, hub_upgrade
from fowergram.realtime.handshake import Refusal, Upgrade, read_upgrade

TYPENAME_QUERY = b"/graphql?query=%7B__typename%7D"


@pytest.fixture(scope="module")
def server(service_urls: ServiceUrls, migrated_database: str) -> Iterator[LiveServer]:
    settings = make_settings(service_urls, migrated_database)
    with LiveServer(create_app(settings), settings) as live:
        yield live


@pytest.mark.parametrize(
    "head",
    [
        UPGRADE_HEAD,
        UPGRADE_HEAD.replace(b"GET /graphql ", b"GET /graphql?x=1 "),
        UPGRADE_HEAD.replace(b"Upgrade: websocket", b"upgrade:WebSocket"),
        UPGRADE_HEAD.replace(b"Connection: Upgrade", b"connection:keep-alive,  upgrade"),
        UPGRADE_HEAD.replace(b"Connection: Upgrade", b"Connection: UPGRADE , keep-alive"),
    ],
    ids=["plain", "query-string", "case-and-spacing", "connection-list", "connection-first"],
)
def test_a_whole_well_formed_upgrade_to_the_hub_is_recognised(head: bytes) -> None:
    assert hub_upgrade(head) is not None
    assert hub_upgrade(head + b"\x81\x85frames follow") is not None
    # Read once here, as the hub's own reading of the same bytes would.
    for data in (head, head + b"\x81\x85frames follow"):
        assert hub_upgrade(data) == read_upgrade(data)
        assert isinstance(hub_upgrade(data), Upgrade)


@pytest.mark.parametrize(
    "head",
    [
        UPGRADE_HEAD.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"c2hvcnQ="),
        UPGRADE_HEAD.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"),
    ],
    ids=["short-key", "old-version"],
)
def test_a_recognised_upgrade_is_checked_as_the_hub_checks_it(head: bytes) -> None:
    refusal = hub_upgrade(head)
    assert isinstance(refusal, Refusal)
    assert refusal == read_upgrade(head)


NOT_OURS = {
    "incomplete": UPGRADE_HEAD[:-2],  # the head not whole yet
    "post": UPGRADE_HEAD.replace(b"GET", b"POST"),
    "longer-path": UPGRADE_HEAD.replace(b"/graphql", b"/graphqlx"),
    "other-path": UPGRADE_HEAD.replace(b"/graphql", b"/other"),
    "http-1.0": UPGRADE_HEAD.replace(b"HTTP/1.1", b"HTTP/1.0"),
    "h2c": UPGRADE_HEAD.replace(b"Upgrade: websocket", b"Upgrade: h2c"),
    "websocketx": UPGRADE_HEAD.replace(b"Upgrade: websocket", b"Upgrade: websocketx"),
    "no-upgrade": UPGRADE_HEAD.replace(b"Upgrade: websocket\r\n", b""),
    "no-connection-upgrade": UPGRADE_HEAD.replace(b"Connection: Upgrade", b"Connection: close"),
    "connection-lookalike": UPGRADE_HEAD.replace(b"Connection: Upgrade", b"Connection: upgraded"),
    "obsolete-fold": UPGRADE_HEAD.replace(b"127.0.0.1\r\n", b"127.0.0.1\r\n folded\r\n"),
    "bare-lf": UPGRADE_HEAD.replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\n"),
    "space-in-name": UPGRADE_HEAD.replace(b"Host:", b"Ho st:"),
    "nul": UPGRADE_HEAD.replace(b"Host: 127.0.0.1", b"Host: 127.0.0.1\x00"),
    "escape": UPGRADE_HEAD.replace(b"Host: 127.0.0.1", b"Host: 127.0.0.1\x1b[2J"),
    # A body's framing is httptools' to judge (what smuggling behind a proxy relies on).
    "content-length": UPGRADE_HEAD.replace(b"Host:", b"Content-Length: 0\r\nHost:"),
    "bad-content-length": UPGRADE_HEAD.replace(b"Host:", b"Content-Length: abc\r\nHost:"),
    "chunked": UPGRADE_HEAD.replace(b"Host:", b"Transfer-Encoding: chunked\r\nHost:"),
    # uvicorn reads the last of repeated lines only: its reading of them stands.
    "two-connection-lines": UPGRADE_HEAD.replace(
        b"Connection: Upgrade", b"Connection: Upgrade\r\nConnection: keep-alive"
    ),
    "two-upgrade-lines": UPGRADE_HEAD.replace(
        b"Upgrade: websocket", b"Upgrade: websocket\r\nUpgrade: h2c"
    ),
    "longer-than-8k": UPGRADE_HEAD.replace(
        b"Host:", b"X-Pad: " + b"p" * MAX_HEAD_BYTES + b"\r\nHost:"
    ),
    # Whitespace runs that made an earlier pattern backtrack for seconds: read once now.
    "space-run": UPGRADE_HEAD.replace(b"Connection: Upgrade", b"Connection:" + b" " * 8000 + b"x"),
    "tab-run": UPGRADE_HEAD.replace(
        b"Connection: Upgrade", b"Connection:" + b" \t" * 4000 + b"upgrade;"
    ),
}


@pytest.mark.parametrize("head", NOT_OURS.values(), ids=NOT_OURS.keys())
def test_anything_else_is_left_to_uvicorn(head: bytes) -> None:
    assert hub_upgrade(head) is None


async def test_an_upgrade_with_its_first_message_in_the_same_write_is_answered(
    server: LiveServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        init = orjson.dumps({"type": "connection_init", "payload": {}})
        writer.write(UPGRADE_HEAD + masked_text_frame(init))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"sec-websocket-protocol: graphql-transport-ws" in head.lower()
        frame = await asyncio.wait_for(reader.read(256), 5)
        assert orjson.loads(text_payload(frame))["type"] == "connection_ack"
    finally:
        writer.close()


async def test_an_upgrade_whose_head_comes_in_pieces_still_upgrades(server: LiveServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for start in range(0, len(UPGRADE_HEAD), 40):
            writer.write(UPGRADE_HEAD[start : start + 40])
            await writer.drain()
            await asyncio.sleep(0.01)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101 ")
        writer.write(masked_text_frame(orjson.dumps({"type": "connection_init"})))
        frame = await asyncio.wait_for(reader.read(256), 5)
        assert orjson.loads(text_payload(frame))["type"] == "connection_ack"
    finally:
        writer.close()


async def test_an_upgrade_with_a_malformed_body_length_is_refused_by_httptools(
    server: LiveServer,
) -> None:
    head = UPGRADE_HEAD.replace(b"Host:", b"Content-Length: abc\r\nHost:")
    status, _ = await http_answer(server, head)
    assert status == b"HTTP/1.1 400 Bad Request"


async def http_answer(server: LiveServer, request: bytes) -> tuple[bytes, bytes]:
    """Status line and body of one request (the connection closed after it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


async def test_a_get_of_the_hub_path_that_is_no_websocket_upgrade_is_served_as_http(
    server: LiveServer,
) -> None:
    plain = b"GET " + TYPENAME_QUERY + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    h2c = plain.replace(b"Connection: close\r\n", b"Connection: Upgrade, close\r\nUpgrade: h2c\r\n")
    # Upgrade not named by Connection is to be ignored (RFC 9110 7.8).
    unlisted = plain + b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    for request in (plain, h2c, unlisted):
        status, body = await http_answer(server, request + b"\r\n")
        assert status == b"HTTP/1.1 200 OK"
        assert orjson.loads(body) == {"data": {"__typename": "Query"}}


async def test_http_connections_are_kept_alive_across_requests(server: LiveServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for _ in range(3):
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 ")
            length = next(
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await asyncio.wait_for(reader.readexactly(length), 5)
    finally:
        writer.close()


async def test_a_connection_is_counted_open_by_uvicorn_until_it_ends(server: LiveServer) -> None:
    """uvicorn's graceful shutdown tells every connection it counts to end and waits for
    them: one waiting for its first bytes is counted and let go like its own."""
    await _until(lambda: server.open_connections == 0, timeout=15)  # earlier tests' gone
    _, idle = await asyncio.open_connection("127.0.0.1", server.port)
    await _until(lambda: server.open_connections == 1)
    reader, served = await asyncio.open_connection("127.0.0.1", server.port)
    served.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 200 ")
    served.close()
    idle.close()
    await _until(lambda: server.open_connections == 0)


async def _until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.01)


async def test_connections_that_end_before_a_request_leave_the_server_serving(
    server: LiveServer,
) -> None:
    for _ in range(20):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.close()
        await writer.wait_closed()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write_eof()  # half-closed with nothing sent: the server closes its side
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    status, _ = await http_answer(
        server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert status == b"HTTP/1.1 200 OK"
