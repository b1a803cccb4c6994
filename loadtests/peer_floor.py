"""The floor of a socket's set-up and of a broadcast in Python: the least any hub on this
stack must do.

    python -m loadtests.peer_floor --port=PORT --public-key=PEM_FILE --issuer=ISSUER
                                   [--nats-url=nats://... --subject-prefix=PREFIX]

A bare uvloop protocol, run by `bench_peer --peer floor`: the upgrade answered from the
Sec-WebSocket-Key alone (websockets' `accept_key`), client text frames unmasked with
websockets' C helper, JSON read with orjson, the bearer token of `connection_init`
verified with joserfc (RS256 signature, issuer, expiry) as our `JwtAccessTokens` does,
`connection_ack` written, the subscribe kept in a dict, `{"type":"ping"}` answered with
`{"type":"pong"}`. No revocation, presence, channel, limit, metric or log: what our hub
costs above this floor, measured in the same hour, is what its own code costs.

Broadcast (with --nats-url and --subject-prefix): on start, nats-py subscribes to
`<prefix>.post.>` (core NATS). A `postActivity` subscribe (its query names it; the post
from its `id` variable) puts the socket among that post's watchers under its op id, whose
frame prefix `{"id":"X","type":"next","payload":` is made once. Per post.activity event
(loadtests/ws_watch.py's EVENT): one orjson decode, one encode of the payload
`{"data":{"postActivity":{"postId":"<id>","likeCount":N,"commentCount":N}}}` (the
hub's shape: the ID a string), one whole server frame per distinct op id, then
`transport.write` of it to every watching socket in a plain loop. No GraphQL execution,
no authorisation of the join, no slow-consumer check: the least a fan-out costs on
uvloop transports and nats-py.

Not a server to use: it trusts its client's framing and checks nothing else.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, cast

import nats
import orjson
import uvloop
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from joserfc import jws, jwt
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry
from nats.aio.msg import Msg
from websockets.speedups import apply_mask
from websockets.utils import accept_key

from fowergram.realtime.text_frames import text_frame_header

TEXT_OPCODE = 1
ACK = b'\x81\x19{"type":"connection_ack"}'
PONG = b'\x81\x0f{"type":"pong"}'
WATCHED_FIELD = "postActivity"


class Floor:
    def __init__(self, public_pem: bytes, issuer: str) -> None:
        public_key = serialization.load_pem_public_key(public_pem)
        if not isinstance(public_key, RSAPublicKey):
            raise ValueError("the floor verifies RS256 tokens: an RSA public key is needed")
        self.key = RSAKey.import_key(public_key)
        self.registry = JWSRegistry(algorithms=["RS256"])
        self.claims = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer}, exp={"essential": True}
        )
        self.sockets: set[FloorProtocol] = set()
        self.subscriptions: dict[tuple[str, str], str] = {}
        # post id -> op id -> the transports of the sockets watching it under that op id
        self.watchers: dict[str, dict[str, set[asyncio.Transport]]] = {}
        self.frame_prefixes: dict[str, bytes] = {}  # op id -> b'{"id":"X","type":"next",...'

    def user_of(self, token: str) -> str:
        compact = jws.extract_compact(token.encode("ascii"))
        compact.headers()
        if not jws.validate_compact(compact, self.key, registry=self.registry):
            raise ValueError("bad signature")
        claims = orjson.loads(compact.payload or b"")
        self.claims.validate(claims)
        return str(claims["sub"])

    def watch(self, socket: FloorProtocol, post_id: str, op_id: str) -> None:
        if op_id not in self.frame_prefixes:
            self.frame_prefixes[op_id] = b'{"id":%s,"type":"next","payload":' % orjson.dumps(op_id)
        assert socket.transport is not None
        self.watchers.setdefault(post_id, {}).setdefault(op_id, set()).add(socket.transport)
        socket.watching.append((post_id, op_id))

    def unwatch(self, socket: FloorProtocol) -> None:
        for post_id, op_id in socket.watching:
            self.watchers[post_id][op_id].discard(cast(asyncio.Transport, socket.transport))

    async def on_event(self, msg: Msg) -> None:
        """One post.activity event: decoded once, its payload encoded once, one frame per
        op id, written to every watcher."""
        event = orjson.loads(msg.data)
        post_id = str(event["postId"])
        by_op = self.watchers.get(post_id)
        if not by_op:
            return
        payload = orjson.dumps(
            {
                "data": {
                    WATCHED_FIELD: {
                        "postId": post_id,
                        "likeCount": event["likeCount"],
                        "commentCount": event["commentCount"],
                    }
                }
            }
        )
        for op_id, transports in by_op.items():
            message = self.frame_prefixes[op_id] + payload + b"}"
            frame = text_frame_header(len(message)) + message
            for transport in transports:
                transport.write(frame)

    def stats(self) -> bytes:
        body = orjson.dumps(
            {
                "sockets": len(self.sockets),
                "subscriptions": len(self.subscriptions),
                "watchers": sum(len(t) for by_op in self.watchers.values() for t in by_op.values()),
            }
        )
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n" % len(body) + body
        )


class FloorProtocol(asyncio.Protocol):
    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.buffer = b""
        self.upgraded = False
        self.user = ""
        self.transport: asyncio.Transport | None = None
        self.watching: list[tuple[str, str]] = []  # (post id, op id)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        if not self.upgraded and not self._upgrade(self.transport):
            return
        while len(self.buffer) >= 6:
            size, start = self.buffer[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(self.buffer[2:4], "big"), 4
            end = start + 4 + size
            if len(self.buffer) < end:
                return
            text = self.buffer[0] & 0x0F == TEXT_OPCODE  # a close frame, say: not a message
            payload = apply_mask(self.buffer[start + 4 : end], self.buffer[start : start + 4])
            self.buffer = self.buffer[end:]
            if text:
                self._message(self.transport, orjson.loads(payload))

    def _upgrade(self, transport: asyncio.Transport) -> bool:
        head, found, rest = self.buffer.partition(b"\r\n\r\n")
        if not found:
            return False
        if head.startswith(b"GET /stats"):
            transport.write(self.floor.stats())
            transport.close()
            return False
        lower = head.lower()
        at = lower.index(b"sec-websocket-key:") + len(b"sec-websocket-key:")
        line_end = lower.find(b"\r\n", at)
        key = head[at : line_end if line_end >= 0 else len(head)].strip()
        transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key.decode("ascii")).encode() + b"\r\n"
            b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        self.buffer, self.upgraded = rest, True
        self.floor.sockets.add(self)
        return True

    def _message(self, transport: asyncio.Transport, message: dict[str, Any]) -> None:
        if message["type"] == "connection_init":
            token = str(message["payload"]["authorization"]).partition(" ")[2]
            self.user = self.floor.user_of(token)
            transport.write(ACK)
        elif message["type"] == "subscribe":
            query = message["payload"]["query"]
            self.floor.subscriptions[(self.user, message["id"])] = query
            if WATCHED_FIELD in query:
                post_id = str(message["payload"]["variables"]["id"])
                self.floor.watch(self, post_id, message["id"])
        elif message["type"] == "ping":
            transport.write(PONG)

    def connection_lost(self, exc: Exception | None) -> None:
        self.floor.sockets.discard(self)
        self.floor.unwatch(self)


async def serve(port: int, floor: Floor, nats_url: str | None, prefix: str | None) -> None:
    if nats_url is not None:
        # Subscribed (and the subscription flushed) before /stats answers: ready means live.
        nc = await nats.connect(nats_url, name="bench-peer-floor")
        await nc.subscribe(f"{prefix}.post.>", cb=floor.on_event)
        await nc.flush()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FloorProtocol(floor), "127.0.0.1", port)
    await server.serve_forever()


def main() -> None:
    options = dict(arg.removeprefix("--").split("=", 1) for arg in sys.argv[1:])
    with open(options["public-key"], "rb") as pem:
        floor = Floor(pem.read(), options["issuer"])
    nats_url, prefix = options.get("nats-url"), options.get("subject-prefix")
    if (nats_url is None) != (prefix is None):
        raise SystemExit("--nats-url and --subject-prefix go together")
    uvloop.run(serve(int(options["port"]), floor, nats_url, prefix))


if __name__ == "__main__":
    main()
