"""The socket protocols' message rules and frames, and the Origin policy (no I/O)."""

from __future__ import annotations

import orjson
import pytest

from fowergram.realtime.origins import origin_allowed
from fowergram.realtime.protocol import (
    LEGACY_WS,
    TRANSPORT_WS,
    Complete,
    Dialect,
    Init,
    Ping,
    Pong,
    ProtocolViolation,
    Subscribe,
    Terminate,
    parse_message,
)


def test_transport_ws_messages_parse_into_the_hubs_vocabulary() -> None:
    subscribe = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": "{ a }", "variables": {"x": 1}, "operationName": "A"},
    }
    assert parse_message(TRANSPORT_WS, orjson.dumps(subscribe)) == Subscribe(
        "1", "{ a }", {"x": 1}, "A", None
    )
    assert parse_message(TRANSPORT_WS, '{"type":"connection_init"}') == Init({})
    assert parse_message(TRANSPORT_WS, '{"type":"ping","payload":{"t":1}}') == Ping({"t": 1})
    assert parse_message(TRANSPORT_WS, '{"type":"pong"}') == Pong()
    assert parse_message(TRANSPORT_WS, '{"type":"complete","id":"9"}') == Complete("9")


def test_legacy_messages_map_onto_the_same_vocabulary() -> None:
    start = {"id": "7", "type": "start", "payload": {"query": "{ a }"}}
    assert parse_message(LEGACY_WS, orjson.dumps(start)) == Subscribe(
        "7", "{ a }", None, None, None
    )
    assert parse_message(LEGACY_WS, '{"type":"stop","id":"7"}') == Complete("7")
    assert parse_message(LEGACY_WS, '{"type":"connection_terminate"}') == Terminate()


def _subscribe(extra: str) -> str:
    return '{"type":"subscribe","id":"1","payload":{"query":"{a}",' + extra + "}}"


@pytest.mark.parametrize(
    ("protocol", "data", "reason"),
    [
        (TRANSPORT_WS, "{not json", "must be JSON"),
        (TRANSPORT_WS, "[1, 2]", "must be an object"),
        (TRANSPORT_WS, '"subscribe"', "must be an object"),
        (TRANSPORT_WS, '{"type":"start","id":"1","payload":{"query":"{a}"}}', "unknown"),
        (LEGACY_WS, '{"type":"subscribe","id":"1","payload":{"query":"{a}"}}', "unknown"),
        (TRANSPORT_WS, '{"type":"subscribe","payload":{"query":"{a}"}}', "'id'"),
        (TRANSPORT_WS, '{"type":"subscribe","id":"","payload":{"query":"{a}"}}', "'id'"),
        (TRANSPORT_WS, '{"type":"subscribe","id":7,"payload":{"query":"{a}"}}', "'id'"),
        (TRANSPORT_WS, '{"type":"subscribe","id":"' + "x" * 129 + '","payload":{}}', "'id'"),
        (TRANSPORT_WS, '{"type":"subscribe","id":"1"}', "'payload'"),
        (TRANSPORT_WS, '{"type":"subscribe","id":"1","payload":{"query":3}}', "query"),
        (TRANSPORT_WS, _subscribe('"variables":[]'), "variables"),
        (TRANSPORT_WS, _subscribe('"operationName":1'), "operationName"),
        (TRANSPORT_WS, '{"type":"connection_init","payload":"token"}', "'payload'"),
        (TRANSPORT_WS, '{"type":"complete"}', "'id'"),
        (TRANSPORT_WS, b'{"type":"ping","payload":"\xff"}', "JSON"),
        (TRANSPORT_WS, '{"type":"\\u0000\\u202e' + "x" * 500 + '"}', "unknown"),
    ],
)  # fmt: skip
def test_malformed_messages_are_violations_with_a_reason(
    protocol: str, data: str | bytes, reason: str
) -> None:
    with pytest.raises(ProtocolViolation) as violation:
        parse_message(protocol, data)
    assert reason in str(violation.value)
    assert len(str(violation.value)) < 120  # fits a close frame's reason


def test_frames_follow_each_protocols_names() -> None:
    modern, legacy = Dialect(TRANSPORT_WS), Dialect(LEGACY_WS)
    assert orjson.loads(modern.next("a", {"data": {"x": 1}})) == {
        "id": "a",
        "type": "next",
        "payload": {"data": {"x": 1}},
    }
    assert orjson.loads(legacy.next("a", {"data": None}))["type"] == "data"
    assert orjson.loads(modern.next_prefix('q"1') + b'{"data":{"n":2}}}') == {
        "id": 'q"1',
        "type": "next",
        "payload": {"data": {"n": 2}},
    }
    assert orjson.loads(legacy.next_prefix("b") + b'{"data":null}}')["type"] == "data"
    error = {"message": "bad"}
    assert orjson.loads(modern.error("e", [error]))["payload"] == [error]
    assert orjson.loads(legacy.error("e", [error]))["payload"] == error
    assert orjson.loads(modern.ack({"userId": "3"})) == {
        "type": "connection_ack",
        "payload": {"userId": "3"},
    }
    assert orjson.loads(legacy.ack(None)) == {"type": "connection_ack"}
    assert modern.keepalive_frame == '{"type":"ping"}'
    assert legacy.keepalive_frame == '{"type":"ka"}'
    assert orjson.loads(modern.complete("z")) == {"id": "z", "type": "complete"}


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "verdict"),
    [
        (None, "api.example", (), True),  # an app, not a browser page
        ("https://api.example", "api.example", (), True),  # same origin
        ("http://localhost:8000", "localhost:8000", (), True),
        ("https://evil.example", "api.example", (), False),
        ("https://api.example.evil", "api.example", (), False),
        ("http://localhost:9999", "localhost:8000", (), False),  # another port
        ("null", "api.example", (), False),  # sandboxed iframe, file://
        ("https://app.example", "api.example", ("https://app.example",), True),
        ("https://app.example", "api.example", ("*",), True),
        ("https://app.example", None, (), False),
    ],
)
def test_origin_policy(
    origin: str | None, host: str | None, allowed: tuple[str, ...], verdict: bool
) -> None:
    assert origin_allowed(origin, host, allowed) is verdict
